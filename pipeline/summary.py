"""The end-of-run summary, from Beam metrics: what was read, where every document went.

Every document read ends in exactly one of `articles`, `duplicates` or `dead_letters`; the
accounting line checks `read = written + duplicates + dead letters`.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from typing import Any, Optional

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from transforms.core import metrics
from transforms.core.dead_letters import DEAD_LETTERS


@dataclasses.dataclass
class RunSummary:
    read: int
    written: int
    duplicates: int
    dead_letters: int
    dead_letters_by_stage: dict[str, int]
    summary_fallbacks: int  # page failures whose entry was written from the feed's text
    entries_known: int  # feed entries an earlier run or poll passed on: skipped, not read
    entities: int
    entities_by_label: dict[str, int]
    events: int
    events_by_type: dict[str, int]
    event_clusters: int
    elapsed_seconds: float
    spacy_seconds: float
    runner: str
    output_dir: str
    run_id: Optional[str] = None
    already_written: int = 0  # duplicates that are articles an earlier run wrote: counted, no row
    postgres_rows: int = 0  # rows upserted into PostgreSQL, all tables
    postgres_refused: int = 0  # rows PostgreSQL refused: dead letters of stage `postgres`
    postgres_unwritable: int = 0  # of the dead letters, those PostgreSQL refused too (logged)
    feeds_empty: int = 0  # feeds read that hold no entries (logged by name)
    graph_seconds: float = 0.0  # building the pipeline's graph, in the driver
    model_load_seconds: float = 0.0  # loading models in the workers' setup, summed over workers
    driver_cpu_seconds: float = 0.0  # CPU time of the driver process (graph, runner, data plane)
    event_clusters_updated: int = 0  # of the clusters, earlier runs' ones the run's mentions joined

    @property
    def startup_seconds(self) -> float:
        """The time before documents flow: the graph, and the model loads."""
        return self.graph_seconds + self.model_load_seconds

    @property
    def rejected(self) -> int:
        """Documents that ended as dead letters (a page failure with a fallback did not end one,
        nor did a row a database refused: its document was written to the files)."""
        return self.dead_letters - self.summary_fallbacks - self.postgres_refused

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.duplicates + self.rejected

    def accounting_line(self) -> str:
        mark = "ok" if self.balanced else f"MISMATCH: {self.read - self.written - self.duplicates - self.rejected:+d}"
        return (
            f"read {self.read} = written {self.written} + duplicates {self.duplicates}"
            f" + dead letters {self.rejected} ({mark})"
        )

    def format(self) -> str:
        def breakdown(counts: dict[str, int]) -> str:
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            return ", ".join(f"{k} {v}" for k, v in items) if items else "none"

        rate = self.read / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0
        return "\n".join(
            [
                f"newsbeam: run {self.run_id + ' ' if self.run_id else ''}finished in {self.elapsed_seconds:.1f} s on "
                f"{self.runner} ({rate:.1f} documents/s)",
                f"  documents     {self.accounting_line()}"
                + (
                    f"; {self.already_written} of the duplicates already written by earlier runs"
                    if self.already_written
                    else ""
                )
                + (f"; {self.entries_known} feed entries seen before, skipped" if self.entries_known else ""),
                f"  dead letters  {breakdown(self.dead_letters_by_stage)}"
                + (
                    f"; {self.summary_fallbacks} of them page failures whose entry was written from the feed's "
                    "text (text_source=summary)"
                    if self.summary_fallbacks
                    else ""
                ),
                f"  entities      {self.entities}: {breakdown(self.entities_by_label)}",
                f"  events        {self.events}: {breakdown(self.events_by_type)}",
                f"  clusters      {self.event_clusters} real-world events "
                "(mentions merged across sentences and articles)"
                + (
                    f"; {self.event_clusters_updated} of them earlier runs' clusters with new mentions"
                    if self.event_clusters_updated
                    else ""
                ),
                *(
                    [
                        f"  postgres      {self.postgres_rows} rows upserted; {self.postgres_refused} refused "
                        "(dead letters, stage postgres)"
                        + (
                            f"; {self.postgres_unwritable} dead letters refused too (see the log)"
                            if self.postgres_unwritable
                            else ""
                        )
                    ]
                    if self.postgres_rows or self.postgres_refused
                    else []
                ),
                *(
                    [f"  feeds         {self.feeds_empty} read with no entries (named in the log)"]
                    if self.feeds_empty
                    else []
                ),
                f"  time          start-up {self.startup_seconds:.1f} s (graph {self.graph_seconds:.1f} s, "
                f"model loads {self.model_load_seconds:.1f} s); {self.spacy_seconds:.1f} s in spaCy "
                "(loads and spaCy summed over workers)",
                f"  output        {self.output_dir}",
            ]
        )

    def plus(self, other: RunSummary) -> RunSummary:
        """The summary of this run and `other` together (the segments of a local streaming run)."""
        merged: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, dict):
                merged[field.name] = {k: mine.get(k, 0) + theirs.get(k, 0) for k in {*mine, *theirs}}
            elif isinstance(mine, (int, float)) and not isinstance(mine, bool):
                merged[field.name] = mine + theirs
            else:
                merged[field.name] = mine
        return RunSummary(**merged)

    def with_elapsed(self, seconds: float) -> RunSummary:
        return dataclasses.replace(self, elapsed_seconds=round(seconds, 3))

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "balanced": self.balanced}, indent=2, sort_keys=True)


def _counters(result: PipelineResult) -> dict[tuple[str, str], int]:
    """(namespace, name) -> value, summed over the steps that report it."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[(counter.key.metric.namespace, counter.key.metric.name)] += int(value or 0)
    return totals


def summarize(
    result: PipelineResult,
    elapsed_seconds: float,
    runner: str,
    output_dir: str,
    run_id: Optional[str] = None,
    graph_seconds: float = 0.0,
    driver_cpu_seconds: float = 0.0,
) -> RunSummary:
    counters = _counters(result)

    def namespace(ns: str) -> dict[str, int]:
        return {name: value for (space, name), value in counters.items() if space == ns and value}

    tables = namespace(metrics.TABLES)
    database = namespace(metrics.POSTGRES)
    refused = {name.removeprefix("refused/"): n for name, n in database.items() if name.startswith("refused/")}
    by_label = namespace(metrics.ENTITIES)
    by_type = namespace(metrics.EVENTS)
    return RunSummary(
        read=counters.get((metrics.SOURCES, metrics.DOCUMENTS_READ), 0),
        written=tables.get("articles", 0),
        duplicates=tables.get("duplicates", 0) + counters.get((metrics.DEDUP, metrics.ALREADY_WRITTEN), 0),
        dead_letters=tables.get("dead_letters", 0),
        dead_letters_by_stage=namespace(metrics.DEAD_LETTERS),
        summary_fallbacks=counters.get((metrics.FEEDS, metrics.SUMMARY_FALLBACKS), 0),
        entries_known=counters.get((metrics.FEEDS, metrics.ENTRIES_KNOWN), 0)
        + counters.get((metrics.FEEDS, metrics.ENTRIES_REPEATED), 0),
        entities=tables.get("entities", 0),
        entities_by_label=by_label,
        events=tables.get("events", 0),
        events_by_type=by_type,
        event_clusters=tables.get("event_clusters", 0),
        elapsed_seconds=round(elapsed_seconds, 3),
        spacy_seconds=counters.get((metrics.TIMING, metrics.SPACY_MILLISECONDS), 0) / 1000,
        runner=runner,
        output_dir=output_dir,
        run_id=run_id,
        already_written=counters.get((metrics.DEDUP, metrics.ALREADY_WRITTEN), 0),
        postgres_rows=sum(n for name, n in database.items() if name.startswith("rows/")),
        postgres_refused=sum(n for name, n in refused.items() if name != DEAD_LETTERS),
        postgres_unwritable=refused.get(DEAD_LETTERS, 0),
        feeds_empty=counters.get((metrics.FEEDS, metrics.FEEDS_EMPTY), 0),
        graph_seconds=round(graph_seconds, 3),
        driver_cpu_seconds=round(driver_cpu_seconds, 3),
        model_load_seconds=counters.get((metrics.TIMING, metrics.MODEL_LOAD_MILLISECONDS), 0) / 1000,
        event_clusters_updated=counters.get((metrics.EVENT_CLUSTERS, metrics.CLUSTERS_UPDATED), 0),
    )
