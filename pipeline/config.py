"""Job settings: defaults here, a YAML file over them, `--set key=value` and CLI flags over that.

Every key is declared with a type and a default; an unknown key, a wrong type or an impossible
value is a `ConfigError` with one readable line naming the key. The sections the stages take are
defined beside them (`transforms.core.settings`); this module adds the run's own keys and loads
the layers. Beam's own pipeline options live under the `beam:` key and are checked by
`pipeline.options`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, Field, ValidationError

from transforms.core.settings import (
    BigQuerySettings,
    CleanSettings,
    ConfigError,
    DedupSettings,
    EntitiesSettings,
    EventsSettings,
    FeedSource,
    FeedsSettings,
    FetchSettings,
    InputSettings,
    OutputSettings,
    PostgresSettings,
    Section,
    read_yaml,
)


class DaskSettings(Section):
    """The Dask LocalCluster newsbeam starts for the Dask runner."""

    workers: int = Field(
        2, ge=1, description="Worker processes of the LocalCluster started when no --dask_client_address is given."
    )
    threads_per_worker: int = Field(1, ge=1, description="Threads per worker process of that LocalCluster.")


class StreamingSettings(Section):
    """Streaming runs (`--streaming`): output windows and how long to run."""

    window_seconds: float = Field(300.0, gt=0, description="Output windows: one set of files per window.")
    max_duration: Optional[float] = Field(
        None, gt=0, description="Seconds after which a streaming run stops and prints its summary; none: until stopped."
    )


class MonitoringSettings(Section):
    """Run metrics in Prometheus' text format, after every run (pipeline/monitoring.py)."""

    textfile: Optional[str] = Field(
        None,
        description="File to write the run's metrics to, for node_exporter's textfile collector "
        "(e.g. /var/lib/node_exporter/textfile/newsbeam.prom); none: no file.",
    )
    pushgateway: Optional[str] = Field(
        None, description="Pushgateway address (http://host:9091) to push the run's metrics to; none: no push."
    )
    job: str = Field("newsbeam", pattern=r"^[A-Za-z0-9_.:-]+$", description="The job label of pushed metrics.")
    instance: Optional[str] = Field(
        None, description="The instance label of pushed metrics; default: this machine's host name."
    )
    timeout_seconds: float = Field(10.0, gt=0, description="Timeout of the push.")


class Settings(Section):
    """Every setting of a run; the top-level keys are the run's own."""

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
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$",
        description="Names this run (the run= partition); default: its UTC start time. A scheduler should pass "
        "the schedule slot, so a retried run replaces its own partition.",
    )
    dask: DaskSettings = DaskSettings()
    postgres: PostgresSettings = PostgresSettings()
    bigquery: BigQuerySettings = BigQuerySettings()
    streaming: StreamingSettings = StreamingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
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


def _describe(error: Mapping[str, Any], origin: str) -> str:
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
        merged[key] = (
            _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
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


def require_input(settings: Settings) -> None:
    """A run needs files or feeds to read; without them, one line naming the fix."""
    if not settings.input.paths and not settings.feeds.sources:
        raise ConfigError(
            "nothing to read: pass --input PATH or --feed URL, or a config that sets input.paths or "
            "feeds.sources (--config configs/local.yaml reads the sample articles in seeds/)"
        )


def dump_settings(settings: Settings) -> str:
    """The effective settings as YAML (what `newsbeam config` prints)."""
    return yaml.safe_dump(settings.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True)


def _default(field: Any) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(none)"
    if isinstance(value, (list, dict)) and not value:
        return "(empty)"
    if isinstance(value, list) and len(str(value)) > 40:
        return f"(a list of {len(value)})"
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


def _escaped(text: Optional[str]) -> str:
    return (text or "").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def reference() -> str:
    """The settings reference in Markdown: every key, its default and its description, a section
    per table (docs/configuration.md holds this text; a test keeps it in sync)."""
    lines = ["#### the run", "", "| key | default | meaning |", "|---|---|---|"]
    sections: list[tuple[str, type[BaseModel]]] = []
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            sections.append((field.alias or name, field.annotation))
        else:
            lines.append(f"| `{name}` | {_default(field)} | {_escaped(field.description)} |")
    sections.append(("feeds.sources[]", FeedSource))
    for prefix, model in sections:
        lines += [
            "",
            f"#### `{prefix}`",
            "",
            (model.__doc__ or "").strip(),
            "",
            "| key | default | meaning |",
            "|---|---|---|",
        ]
        for name, field in model.model_fields.items():
            default = "(required)" if field.is_required() else _default(field)
            lines.append(f"| `{prefix}.{field.alias or name}` | {default} | {_escaped(field.description)} |")
    return "\n".join(lines) + "\n"
