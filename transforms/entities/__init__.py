"""Entities: spaCy NER over each article (`stage.ExtractEntities`), the actor dictionary matched
beside it (`actors`), mentions merged, typed and geocoded into rows (`rows`); spaCy plumbing the
event stage shares (`nlp`)."""
