"""Metric names: the Beam counters the stages increment and the run summary reads back
(`pipeline.summary`). A namespace per stage; where a namespace holds one counter per label, type,
table or stage, the counter's name is that value."""

from __future__ import annotations

SOURCES = "newsbeam.sources"
DOCUMENTS_READ = "documents_read"  # every document read, from files and feeds: the accounting's left side

FEEDS = "newsbeam.feeds"
FEEDS_UNCHANGED = "feeds_unchanged"  # 304 Not Modified, or the same bytes as the last poll
FEEDS_EMPTY = "feeds_empty"  # feeds read that hold no entries: no document, a note in the summary
FEED_ENTRIES = "entries"
PAGES = "pages"
SUMMARY_FALLBACKS = "summary_fallbacks"  # page failures whose entry was written from the feed's text
ENTRIES_KNOWN = "entries_known"  # entries an earlier run passed on: skipped, not read
ENTRIES_REPEATED = "entries_repeated"  # entries an earlier poll of this streaming run passed on

CLEAN = "newsbeam.clean"
UNPARSED_DATES = "unparsed_dates"

DEDUP = "newsbeam.dedup"  # also duplicates_by_<method>
ALREADY_WRITTEN = "already_written"  # duplicates that are articles an earlier run wrote: counted, no row

ENTITIES = "newsbeam.entities"  # one counter per entity label
TIMING = "newsbeam.timing"
SPACY_MILLISECONDS = "spacy_ms"  # time inside nlp.pipe, summed over workers
MODEL_LOAD_MILLISECONDS = "model_load_ms"  # loading spaCy, the gazetteer, the classifier in DoFn.setup

EVENTS = "newsbeam.events"  # one counter per event type
EVENT_CLUSTERS = "newsbeam.event_clusters"
CLUSTER_FALLBACKS = "fallbacks"
CLUSTERS_UPDATED = "updated"  # clusters of earlier runs the run's mentions joined

TABLES = "newsbeam.tables"  # rows written, one counter per table
POSTGRES = "newsbeam.postgres"  # rows/<table>, refused/<table>, retries
DEAD_LETTERS = "newsbeam.dead_letters"  # one counter per stage


def duplicates_by(method: str) -> str:
    """The counter of duplicates found by `method` (in the DEDUP namespace)."""
    return f"duplicates_by_{method}"
