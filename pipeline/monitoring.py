"""Run metrics for monitoring: a run's counters in Prometheus' text format, written to a file for
node_exporter's textfile collector (`monitoring.textfile`) and/or pushed to a Pushgateway
(`monitoring.pushgateway`), after every run, failed ones included.

Every metric is a gauge describing the last run of the job (the collector and the gateway keep
the last value): documents read, written, duplicates, dead letters by stage, events by family and
by type, entities, event clusters, run and start-up seconds, whether the run succeeded, when it
ended and when the job last succeeded. A failed run keeps the last success time of the run before
it (read back from the file; at the gateway, a success replaces the job's group and a failure
only the metrics it sends), so an alert on `time() - newsbeam_last_success_timestamp_seconds`
fires when scheduled runs keep failing. docs/running.md shows the cron line, the Airflow DAG and
alert rules.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, pushadd_to_gateway, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import MonitoringSettings
from pipeline.summary import RunSummary

_LOG = logging.getLogger(__name__)
PREFIX = "newsbeam"
LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"


def registry_of(
    summary: Optional[RunSummary],
    families: Mapping[str, str],
    succeeded: bool,
    ended: float,
    last_success: Optional[float],
) -> CollectorRegistry:
    """The run's gauges; `families` maps an event type to its family. Without a summary (the run
    failed before it had one) only the run's outcome and times."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float, **labels: str) -> None:
        metric = Gauge(f"{PREFIX}_{name}", doc, list(labels), registry=registry)
        (metric.labels(**labels) if labels else metric).set(value)

    gauge("last_run_success", "1 when the last run finished with balanced accounting, else 0.", int(succeeded))
    gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", ended)
    if last_success is not None:
        gauge("last_success_timestamp_seconds", "When a run of this job last succeeded (Unix time).", last_success)
    if summary is None:
        return registry
    for name, doc, value in (
        ("documents_read", "Documents the last run read.", summary.read),
        ("documents_written", "Articles the last run wrote.", summary.written),
        ("documents_duplicate", "Documents the last run found to be duplicates.", summary.duplicates),
        ("documents_rejected", "Documents the last run turned into dead letters.", summary.rejected),
        ("entities", "Entity rows the last run wrote.", summary.entities),
        ("event_clusters", "Event clusters the last run wrote.", summary.event_clusters),
        ("run_duration_seconds", "Wall time of the last run.", summary.elapsed_seconds),
        ("startup_seconds", "Start-up of the last run: graph construction and model loads.", summary.startup_seconds),
        ("accounting_balanced", "1 when read = written + duplicates + dead letters in the last run.", summary.balanced),
    ):
        gauge(name, doc, float(value))
    dead = Gauge(f"{PREFIX}_dead_letters", "Dead-letter rows of the last run, by stage.", ["stage"], registry=registry)
    for stage, n in summary.dead_letters_by_stage.items():
        dead.labels(stage=stage).set(n)
    by_type = Gauge(f"{PREFIX}_events", "Events the last run wrote, by type.", ["type", "family"], registry=registry)
    by_family: dict[str, int] = dict.fromkeys(sorted(set(families.values())), 0)
    for event_type, n in summary.events_by_type.items():
        kin = families.get(event_type, "unknown")
        by_type.labels(type=event_type, family=kin).set(n)
        by_family[kin] = by_family.get(kin, 0) + n
    family_gauge = Gauge(
        f"{PREFIX}_events_by_family", "Events the last run wrote, by family.", ["family"], registry=registry
    )
    for kin, n in by_family.items():
        family_gauge.labels(family=kin).set(n)
    return registry


def _last_success_in(path: Path) -> Optional[float]:
    """The last success time a metrics file written by an earlier run holds, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        for metric in text_string_to_metric_families(text):
            if metric.name == LAST_SUCCESS:
                return float(metric.samples[0].value)
    except ValueError:  # a damaged file: the next success writes it anew
        return None
    return None


def export(
    settings: MonitoringSettings,
    summary: Optional[RunSummary],
    families: Mapping[str, str],
    ended: Optional[float] = None,
) -> None:
    """Write and push the metrics of a run that ended (`summary` None: it failed before a summary).
    A monitoring endpoint that cannot be reached is logged, never fails the run."""
    if not (settings.textfile or settings.pushgateway):
        return
    ended = time.time() if ended is None else ended
    succeeded = summary is not None and summary.balanced
    if settings.textfile:
        path = Path(settings.textfile)
        last = ended if succeeded else _last_success_in(path)
        registry = registry_of(summary, families, succeeded, ended, last)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(path), registry)  # a temporary file renamed: never read half-written
        except OSError as exc:
            _LOG.error("monitoring: cannot write %s: %s", path, exc.strerror or exc)
    if settings.pushgateway:
        # A success replaces the job's group (PUT); a failure only the metrics it sends (POST),
        # which leaves the last success time there.
        registry = registry_of(summary, families, succeeded, ended, ended if succeeded else None)
        push = push_to_gateway if succeeded else pushadd_to_gateway
        try:
            push(
                settings.pushgateway,
                job=settings.job,
                registry=registry,
                grouping_key={"instance": settings.instance or socket.gethostname()},
                timeout=settings.timeout_seconds,
            )
        except OSError as exc:
            _LOG.error("monitoring: cannot push to %s: %s", settings.pushgateway, exc)
