"""Record types: one NamedTuple per output table, and the internal records passed between stages.

Each table record is the single definition of its table. The Arrow/Parquet schema, the JSON
form and the README's table reference are all derived from it (see `transforms.core.schemas`).
Every record is registered with Beam's RowCoder so PCollections of them carry a Beam schema.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import NamedTuple, Optional

import apache_beam as beam


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
class Article(NamedTuple):
    article_id: str
    source: str
    source_format: str
    url: Optional[str]
    title: Optional[str]
    author: Optional[str]
    published: Optional[datetime]
    language: str
    text: str
    word_count: int
    content_hash: str
    text_source: str
    feed: Optional[str]
    site_name: Optional[str]
    # The article's primary event (`transforms.events.stage.primary`), filled by the event stage.
    primary_event_id: Optional[str] = None
    primary_event_type: Optional[str] = None
    primary_plover_type: Optional[str] = None
    primary_plover_mode: Optional[str] = None
    primary_cameo_root: Optional[str] = None
    primary_acled_event_type: Optional[str] = None
    primary_acled_sub_event_type: Optional[str] = None


class Entity(NamedTuple):
    entity_id: str
    article_id: str
    name: str
    label: str
    place_type: Optional[str]
    sector: Optional[str]
    country: Optional[str]
    subdivision: Optional[str]
    latitude: Optional[float]
    longitude: Optional[float]
    geo: Optional[str]
    mention_count: int
    first_offset: int
    salience: float
    variants: list[str]


class Event(NamedTuple):
    event_id: str
    article_id: str
    sentence_index: int
    sentence: str
    event_type: str
    plover_type: str
    plover_mode: Optional[str]
    cameo_root: str
    acled_event_type: Optional[str]
    acled_sub_event_type: Optional[str]
    trigger: str
    actor: Optional[str]
    target: Optional[str]
    location: Optional[str]
    date_text: Optional[str]
    fatalities: Optional[int]
    injured: Optional[int]
    arrested: Optional[int]
    confidence: float
    # Filled from the article's entities (`transforms.events.entity_fields.attach`).
    actor_sector: Optional[str] = None
    actor_country: Optional[str] = None
    location_country: Optional[str] = None
    location_subdivision: Optional[str] = None
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    # Filled from the article (`transforms.events.stage.ExtractEventsFn`).
    event_date: Optional[datetime] = None
    date_precision: Optional[str] = None
    published: Optional[datetime] = None
    publisher: Optional[str] = None


class EventCluster(NamedTuple):
    cluster_id: str
    event_type: str
    plover_type: str
    plover_mode: Optional[str]
    cameo_root: str
    acled_event_type: Optional[str]
    acled_sub_event_type: Optional[str]
    actor: Optional[str]
    actor_sector: Optional[str]
    actor_country: Optional[str]
    target: Optional[str]
    location: Optional[str]
    location_country: Optional[str]
    location_subdivision: Optional[str]
    latitude: Optional[float]
    longitude: Optional[float]
    first_date: Optional[datetime]
    last_date: Optional[datetime]
    fatalities: Optional[int]
    injured: Optional[int]
    arrested: Optional[int]
    confidence: float
    mentions: int
    articles: int
    sources: list[str]
    event_ids: list[str]
    article_ids: list[str]


class Duplicate(NamedTuple):
    article_id: str
    duplicate_of: str
    cluster_id: str
    method: str
    similarity: float
    source: str
    url: Optional[str]


class DeadLetter(NamedTuple):
    dead_letter_id: str
    source: str
    stage: str
    reason: str
    error_type: str
    detail: Optional[str]
    status: Optional[int]
    attempts: Optional[int]


# ---------------------------------------------------------------------------------------------
# Internal records (between stages)
# ---------------------------------------------------------------------------------------------
class RawDocument(NamedTuple):
    """One document as read from a source, before cleaning."""

    source: str  # where it came from: file path, `path#L12` for a JSON line, or a URL
    source_format: str  # txt | html | json | feed
    text: str
    url: Optional[str] = None
    title: Optional[str] = None
    author: Optional[str] = None
    published: Optional[str] = None  # as found in the source; parsed by the clean stage
    text_source: str = "file"  # file | page | summary
    feed: Optional[str] = None
    site_name: Optional[str] = None
    language: Optional[str] = None  # declared by the feed or page; used when the text is too short


class FeedEntry(NamedTuple):
    """One item of a feed, before its article page is fetched."""

    source: str  # the entry's link, or `<feed url>#<guid>` for an entry without one
    feed: str  # the feed's name, or its URL
    url: Optional[str]  # absolute http(s) link to the article page
    title: Optional[str]
    summary: Optional[str]  # plain text of the entry's longest content or summary
    published: Optional[str]  # ISO 8601 UTC, from the feed
    language: Optional[str]


class FeedState(NamedTuple):
    """What a feed's server said last time, for a conditional GET on the next run."""

    url: str
    etag: Optional[str]
    last_modified: Optional[str]
    checked: str  # ISO 8601 UTC time of the request


class SeenEntry(NamedTuple):
    """A feed item passed on by a run: its key (link, or `<feed url>#<guid>`) and when first seen."""

    key: str
    seen: str  # ISO 8601 UTC


class Sketch(NamedTuple):
    """What near-duplicate detection knows of an article: its MinHash signature and ranking fields."""

    article_id: str
    published: Optional[datetime]
    word_count: int
    signature: bytes  # little-endian uint32 per permutation
    seen: bool  # written by an earlier run (from the index)


class ArticleKeys(NamedTuple):
    """Cross-run index: the codes of the keys of an article written earlier (`transforms.dedup.keys`)."""

    id_code: int
    key_codes: list[int]


class KeyBlock(NamedTuple):
    """Keys of many articles in transit: (key code, id code) rows as two uint64 arrays' bytes."""

    key_codes: bytes
    id_codes: bytes


class AnnotatedArticle(NamedTuple):
    """An article with its spaCy parse, serialised by `transforms.entities.nlp.doc_to_bytes`, and its
    entity rows (actors with sectors, geocoded places) for the event stage."""

    article: Article
    doc: bytes
    entities: list[Entity]


@dataclasses.dataclass(frozen=True)
class Table:
    """An output table: its name, record type, primary key, documentation, schema version and the
    fields a warehouse partitions (a timestamp; ingestion time when none) and clusters it by."""

    name: str
    record: type
    key: tuple[str, ...]
    doc: str
    fields: dict[str, str]
    version: int = 1  # bump when a field is added or removed; sinks migrate on it
    partition_field: Optional[str] = None
    cluster_fields: tuple[str, ...] = ()


TABLES: tuple[Table, ...] = (
    Table(
        "articles",
        Article,
        ("article_id",),
        "One row per unique article that passed every stage.",
        {
            "article_id": "Stable id: hash of the source and the content hash; the same input always gets the same id.",
            "source": "Where the document came from: file path, `path#L<n>` for a JSON line, or URL.",
            "source_format": "`txt`, `html`, `json`, or `feed` for a feed entry's own text.",
            "url": "Canonical URL (lower-case host, no tracking parameters or fragment), if known.",
            "title": "Title, if the source has one (HTML `<title>`/headline, JSON `title`).",
            "author": "Author, if the source names one.",
            "published": "Publication time in UTC; null when the source has no (valid) date.",
            "language": "ISO 639-1 code identified from the text.",
            "text": "Cleaned text: Unicode repaired and NFC-normalised, one paragraph per line.",
            "word_count": "Number of words in `text`.",
            "content_hash": "Hash of the normalised text (case, punctuation and spacing ignored); "
            "equal hashes are exact duplicates.",
            "text_source": "`file` (read from a file), `page` (extracted from the fetched article page) or "
            "`summary` (the page could not be used; the feed entry's text instead).",
            "feed": "The feed the article came from: its configured name, else its URL.",
            "site_name": "Site name from the page's metadata, if any.",
            "primary_event_id": "The article's primary event: its most salient event (confidence, weighted "
            "towards the opening sentences, which state what the story is about, and towards events with "
            "casualties); null when it has none.",
            "primary_event_type": "The primary event's taxonomy type.",
            "primary_plover_type": "The primary event's PLOVER type.",
            "primary_plover_mode": "The primary event's PLOVER mode.",
            "primary_cameo_root": "The primary event's CAMEO root code.",
            "primary_acled_event_type": "The ACLED event type of the primary event, or of the most salient "
            "event that has one when it has none.",
            "primary_acled_sub_event_type": "The ACLED sub-event type of the primary event, or of the most "
            "salient event that has one.",
        },
        partition_field="published",
        cluster_fields=("language", "primary_event_type", "feed"),
    ),
    Table(
        "entities",
        Entity,
        ("entity_id",),
        "Named entities per article: mentions with the same normalised name are merged.",
        {
            "entity_id": "Hash of article_id, the normalised name, the place type and, for roles, the owner's country.",
            "article_id": "The article the entity was found in.",
            "name": "Normalised name (no leading article, no possessive, no trailing place word); the most "
            "frequent spelling when the article spells it several ways (`Badakhshan`, `Badakshan`), case "
            "ignored and ordinary case preferred (`NEW DELHI`, `New Delhi` -> `New Delhi`); for actors "
            "of the dictionary, the actor's or role's name (`Islamic State` for ISIS, `army` for troops). "
            "Never a mention without a letter, with undecodable bytes (U+FFFD) or control characters, or a "
            "lower-case one in cased text (`singh`): those are no entity.",
            "label": "spaCy label (PERSON, ORG, GPE, LOC, NORP, FAC, ...): the most frequent "
            "label among the mentions; names the text marks as places (`Kohistan district`, "
            "`the town of Kidal`, `in Kyiv` for a place the gazetteer knows) are GPE, nationality words NORP; "
            "`ACTOR` for an actor or role of the dictionary NER did not find.",
            "sector": "Actor sector (GOV, MIL, COP, REB, OPP, CVL, JUD, MED, HLH, NGO, IGO, REF, CRM, BUS, EDU, "
            "LAB, REL): of a named actor or role of the actor dictionary; of a person's title (`President X`: "
            "GOV; `Taliban spokesman X`: REB); of the role word heading an organisation's name (`Supreme "
            "Court`: JUD); of the roles a nationality or country qualifies (`Afghan` in `Afghan troops`: MIL).",
            "country": "ISO 3166 alpha-3: for places, the country they are (in); for named actors, theirs; for "
            "roles, their owner's (`Afghan troops`, `Sudan's government`, `the president of Armenia`); for "
            "titled people, their title's owner's; for nationalities, their country (`Afghan`: AFG).",
            "subdivision": "For places: the ISO 3166-2 first-level subdivision they are or lie in (Kandahar "
            "province: AF-KAN; Kabul city: AF-KAB).",
            "latitude": "For cities: latitude (geonames).",
            "longitude": "For cities: longitude (geonames).",
            "geo": "For places, how far geocoding got: `country`, `subdivision`, `city`, or `unresolved` "
            "(not in the gazetteer, or ambiguous in the article's context).",
            "place_type": "For places, the kind the text names: `province` for `Kandahar province`, `town` "
            "for `the town of Kidal`; places of one name but different kinds are different rows.",
            "mention_count": "Number of mentions in the article.",
            "first_offset": "Character offset of the first mention in the article text.",
            "salience": "0-1: half the mention count relative to the article's most mentioned entity, half "
            "how early the first mention comes.",
            "variants": "Distinct surface forms seen.",
        },
        cluster_fields=("label", "country", "name"),
    ),
    Table(
        "events",
        Event,
        ("event_id",),
        "Events found in sentences, classified by the event taxonomy.",
        {
            "event_id": "Hash of article_id, sentence index and event type.",
            "article_id": "The article the event was reported in.",
            "sentence_index": "0-based index of the sentence in the article.",
            "sentence": "The sentence, as evidence.",
            "event_type": "Taxonomy type, e.g. `territory_taken`, `bombing`, `retreat`.",
            "plover_type": "PLOVER event type (ASSAULT, RETREAT, PROTEST, ...).",
            "plover_mode": "PLOVER mode where the taxonomy gives one (explosives, withdraw, ...).",
            "cameo_root": "CAMEO root code (two digits).",
            "acled_event_type": "ACLED event type (Battles, Explosions/Remote violence, ...).",
            "acled_sub_event_type": "ACLED sub-event type.",
            "trigger": "The word or phrase that triggered the event; for an event only the classifier found, "
            "the sentence's main verb (or head word).",
            "actor": "Who did it, when stated (null when the phrase is no name: no letter, undecodable bytes).",
            "target": "To whom or what, when stated (null likewise).",
            "location": "Where: the place in the sentence, else the article's main place; in the place "
            "entity's spelling when they differ only in case.",
            "date_text": "The date or time expression of the event as written (`Thursday night`).",
            "fatalities": "People killed, when stated.",
            "injured": "People injured, when stated.",
            "arrested": "People arrested or detained, when stated.",
            "confidence": "0-1: with the classifier, the probability of the event's type given the sentence and "
            "the rules' vote; with the rules alone, their score. Events below `events.min_confidence` are not "
            "written.",
            "actor_sector": "The actor's sector (REB, MIL, COP, GOV, CVL, ...) when the actor phrase names an "
            "entity with one (`Taliban fighters` -> REB, `Afghan troops` -> MIL).",
            "actor_country": "The actor's country (ISO 3166 alpha-3), when its entity has one (`Afghan troops` "
            "-> AFG).",
            "location_country": "The location's country (ISO 3166 alpha-3), when geocoded.",
            "location_subdivision": "The location's first-level subdivision (ISO 3166-2), when it is one.",
            "latitude": "The location's latitude, when it is a geocoded city.",
            "longitude": "The location's longitude, when it is a geocoded city.",
            "event_date": "The date of the event: `date_text` resolved against the publication time (`Thursday "
            "night` in a story of Saturday 2021-06-19 is 2021-06-17), midnight UTC of the day or of the first "
            "day of the week, month or year; null when the text gives no date or the article has no "
            "publication time to read a relative one against.",
            "date_precision": "`day`, `week`, `month` or `year`: how precise `event_date` is.",
            "published": "The article's publication time (UTC).",
            "publisher": "Who published the article: the feed's name, else the site's name, else the URL's host.",
        },
        partition_field="published",
        cluster_fields=("event_type", "location_country", "actor_sector"),
    ),
    Table(
        "event_clusters",
        EventCluster,
        ("cluster_id",),
        "Real-world events: the event mentions of one type, overlapping actors, one place and dates within a "
        "day of each other, across sentences and articles of a run, and with the lake and the cross-run "
        "index across runs (a later run's mentions update the cluster under its id).",
        {
            "cluster_id": "Hash of the event_id of the cluster's earliest mention when it was made; kept when "
            "a later run's mentions join it.",
            "event_type": "Taxonomy type of the mentions.",
            "plover_type": "PLOVER event type.",
            "plover_mode": "PLOVER mode, where the taxonomy gives one.",
            "cameo_root": "CAMEO root code.",
            "acled_event_type": "ACLED event type.",
            "acled_sub_event_type": "ACLED sub-event type (the most frequent among the mentions).",
            "actor": "The actor most mentions name.",
            "actor_sector": "The actor's sector.",
            "actor_country": "The actor's country (ISO 3166 alpha-3).",
            "target": "The target most mentions name.",
            "location": "Where: the location most mentions name.",
            "location_country": "The location's country (ISO 3166 alpha-3).",
            "location_subdivision": "The location's first-level subdivision (ISO 3166-2).",
            "latitude": "The location's latitude, when it is a geocoded city.",
            "longitude": "The location's longitude, when it is a geocoded city.",
            "first_date": "The earliest event date of the mentions (or publication date, when a mention has none).",
            "last_date": "The latest such date.",
            "fatalities": "The largest death toll a mention reports (later reports revise tolls upwards).",
            "injured": "The largest number of injured a mention reports.",
            "arrested": "The largest number of arrests a mention reports.",
            "confidence": "The highest confidence of the mentions.",
            "mentions": "Number of event rows (sentences) reporting it.",
            "articles": "Number of articles reporting it.",
            "sources": "The publishers that reported it.",
            "event_ids": "The event rows of its mentions.",
            "article_ids": "The articles that reported it.",
        },
        partition_field="first_date",
        cluster_fields=("event_type", "location_country"),
    ),
    Table(
        "duplicates",
        Duplicate,
        ("article_id",),
        "Articles not written to `articles` because they repeat one that was.",
        {
            "article_id": "The duplicate article.",
            "duplicate_of": "The article_id of the story's representative, written to `articles` by this "
            "run or an earlier one (for `seen`: the article itself).",
            "cluster_id": "The story: a hash of its representative's id, the same in every run.",
            "method": "`url` (same canonical URL), `content` (same content hash), `minhash` (near-duplicate "
            "text) or `seen` (this very article was written by an earlier run).",
            "similarity": "Estimated Jaccard similarity of the word shingles with the representative's; "
            "1.0 for exact duplicates.",
            "source": "Where the duplicate came from.",
            "url": "Its canonical URL, if known.",
        },
        cluster_fields=("method", "cluster_id"),
    ),
    Table(
        "dead_letters",
        DeadLetter,
        ("dead_letter_id",),
        "Inputs that could not be processed, with the stage and a readable reason.",
        {
            "dead_letter_id": "Hash of source, stage and reason.",
            "source": "The input: file path, `path#L<n>`, URL or article id.",
            "stage": "Stage that rejected it: read, feed, page, clean, dedup, entities, events. A `page` "
            "row whose entry had text in the feed did not lose the article: it was written with "
            "`text_source=summary`.",
            "reason": "Readable reason, e.g. `not valid UTF-8 (byte 0xe9 at offset 12)`.",
            "error_type": "`rejected` for expected rejections, a fetch failure kind (`http`, `timeout`, "
            "`connection`, `dns`, `robots`, `blocked_address`, ...), else the exception class.",
            "detail": "Extra context: a snippet of the input or the end of a traceback.",
            "status": "HTTP status of the last response, for fetch failures that got one.",
            "attempts": "Requests made before giving up, for fetch failures.",
        },
        cluster_fields=("stage", "error_type"),
    ),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table_label(name: str) -> str:
    """A table's name as part of step labels: `event_clusters` -> `EventClusters`."""
    return name.title().replace("_", "")


for _record in (
    RawDocument,
    FeedEntry,
    FeedState,
    SeenEntry,
    Sketch,
    ArticleKeys,
    KeyBlock,
    AnnotatedArticle,
    Article,
    Entity,
    Event,
    EventCluster,
    Duplicate,
    DeadLetter,
):
    beam.coders.registry.register_coder(_record, beam.coders.RowCoder)
