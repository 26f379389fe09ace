"""Events: who did what to whom, where and when, from each sentence's parse (`stage.ExtractEvents`,
`extractor`), typed by the taxonomy (`taxonomy`), with the grammar of agents, patients and
modality (`grammar`), casualty counts (`casualties`), places and dates (`places`, `dates`), the
actor and location matched to entities (`entity_fields`), and mentions of one real-world event
merged into clusters (`clusters.ClusterEvents`)."""
