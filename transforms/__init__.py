"""newsbeam's stages, as packages in the order the data flows through them.

    read/      files (txt, html, json, jsonl, feed files; compressed) and RSS/Atom/RDF feeds over
       |       HTTP with their article pages                  -> RawDocument
    clean.py   text fixed, boilerplate gone, language, dates   -> Article
       |
    dedup/     exact (URL, content hash), near (MinHash-LSH), against earlier runs' index
       |                                                      -> Article, Duplicate
    entities/  spaCy NER, the actor dictionary, geocoding (geo/) -> Entity, the parse
       |
    events/    who did what to whom, where, when, casualties; clusters of mentions
       |                                                      -> Event, EventCluster, Article
    sinks/     JSON Lines, Parquet, PostgreSQL, BigQuery      <- every table

    every stage ---------------------------------------------> DeadLetter (stage, source, reason)

`core/` holds what every stage shares: the records and the schemas derived from them, the
settings sections, dead letters, stable ids, metric names and progress lines. `geo/` (countries,
subdivisions, an offline gazetteer) serves the entity and event stages. Each stage is a composite
`PTransform` whose `expand()` returns its outputs and its dead letters. `testing/` (loopback web
sites, a news-like corpus) serves the tests and benchmarks, as `apache_beam.testing` serves Beam's.
`pipeline/` wires these stages into a graph and runs it; nothing here imports `pipeline/`.
"""
