"""De-duplication: exact (`exact.ExactDedup`: canonical URL, content hash), near-duplicates
(`near.NearDedup`: MinHash-LSH) within a run and against earlier runs (`index`), and the same keys
held in state for streaming (`streaming.StreamingDedup`). Helpers: the keys an article is found by
(`keys`), signatures (`minhash`), signatures as columns (`sketch_table`)."""
