"""Run metrics for monitoring: the Prometheus textfile a run writes and what it pushes to a
Pushgateway (a loopback server here), for successful and failed runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.config import MonitoringSettings
from pipeline.monitoring import export
from pipeline.summary import RunSummary
from transforms.events.taxonomy import load_taxonomy
from transforms.testing.sites import Reply, Site

FAMILIES = {t.name: t.family for t in load_taxonomy("builtin").types}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(metric name, sorted labels) -> value, as Prometheus would scrape them."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def summary(**changes: Any) -> RunSummary:
    fields: dict[str, Any] = {
        "read": 10,
        "written": 7,
        "duplicates": 2,
        "dead_letters": 1,
        "dead_letters_by_stage": {"clean": 1},
        "summary_fallbacks": 0,
        "entries_known": 0,
        "entities": 40,
        "entities_by_label": {"GPE": 40},
        "events": 5,
        "events_by_type": {"bombing": 2, "airstrike": 1, "consultation": 2},
        "event_clusters": 4,
        "elapsed_seconds": 12.5,
        "spacy_seconds": 3.0,
        "runner": "FnApiRunner",
        "output_dir": "out",
        "graph_seconds": 0.5,
        "model_load_seconds": 1.5,
    }
    return RunSummary(**(fields | changes))


def test_a_run_writes_its_counters_for_the_textfile_collector(seeds_run: dict[str, Any]) -> None:
    found = samples(seeds_run["metrics"].read_text(encoding="utf-8"))
    facts = json.loads((seeds_run["output"] / "run_summary.json").read_text(encoding="utf-8"))
    assert found[("newsbeam_documents_read", ())] == facts["read"] == 2
    assert found[("newsbeam_documents_written", ())] == facts["written"]
    assert found[("newsbeam_last_run_success", ())] == 1
    assert found[("newsbeam_last_success_timestamp_seconds", ())] == found[("newsbeam_last_run_timestamp_seconds", ())]
    assert found[("newsbeam_run_duration_seconds", ())] == pytest.approx(facts["elapsed_seconds"])
    by_family = {dict(lab)["family"]: v for (name, lab), v in found.items() if name == "newsbeam_events_by_family"}
    assert sum(by_family.values()) == facts["events"] > 0
    assert by_family["Explosions/Remote violence"] >= 1 and by_family["Battles"] >= 1  # the seeds' bombing, seizure
    by_type = {dict(labels)["type"]: v for (name, labels), v in found.items() if name == "newsbeam_events"}
    assert by_type == facts["events_by_type"]


def test_a_failed_run_keeps_the_last_success_time(tmp_path: Path) -> None:
    settings = MonitoringSettings(textfile=str(tmp_path / "newsbeam.prom"))
    export(settings, summary(), FAMILIES, ended=1000.0)
    export(settings, None, FAMILIES, ended=2000.0)  # the pipeline raised: no summary
    found = samples((tmp_path / "newsbeam.prom").read_text(encoding="utf-8"))
    assert found[("newsbeam_last_run_success", ())] == 0
    assert found[("newsbeam_last_run_timestamp_seconds", ())] == 2000
    assert found[("newsbeam_last_success_timestamp_seconds", ())] == 1000
    assert ("newsbeam_documents_read", ()) not in found  # no counts from a run that has none
    export(settings, summary(read=11), FAMILIES, ended=3000.0)  # unbalanced: counted, not a success
    found = samples((tmp_path / "newsbeam.prom").read_text(encoding="utf-8"))
    assert (found[("newsbeam_last_run_success", ())], found[("newsbeam_accounting_balanced", ())]) == (0, 0)
    assert found[("newsbeam_documents_read", ())] == 11
    assert found[("newsbeam_last_success_timestamp_seconds", ())] == 1000
    assert found[("newsbeam_dead_letters", (("stage", "clean"),))] == 1
    assert found[("newsbeam_events_by_family", (("family", "Explosions/Remote violence"),))] == 3
    assert found[("newsbeam_events_by_family", (("family", "Cooperation"),))] == 2
    assert found[("newsbeam_events_by_family", (("family", "Protests"),))] == 0  # present, so alerts see 0


def test_a_success_replaces_the_jobs_group_at_the_gateway_and_a_failure_only_its_metrics() -> None:
    with Site() as gateway:
        path = "/metrics/job/newsbeam-hourly/instance/box-1"
        gateway.route(path, Reply(200))
        settings = MonitoringSettings(pushgateway=gateway.url(), job="newsbeam-hourly", instance="box-1")
        export(settings, summary(), FAMILIES, ended=1000.0)
        export(settings, None, FAMILIES, ended=2000.0)
        success, failure = gateway.hits(path)
    assert (success.method, failure.method) == ("PUT", "POST")
    pushed = samples(success.body.decode())
    assert pushed[("newsbeam_documents_written", ())] == 7
    assert pushed[("newsbeam_last_success_timestamp_seconds", ())] == 1000
    failed = samples(failure.body.decode())
    assert failed[("newsbeam_last_run_success", ())] == 0
    assert ("newsbeam_last_success_timestamp_seconds", ()) not in failed  # the gateway keeps the earlier one


def test_an_unreachable_monitoring_endpoint_is_logged_and_never_fails_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Site() as gateway:
        address = gateway.url()
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the textfile's folder should be
    settings = MonitoringSettings(pushgateway=address, textfile=str(blocked / "newsbeam.prom"), timeout_seconds=2)
    with caplog.at_level(logging.ERROR, logger="pipeline.monitoring"):
        export(settings, summary(), FAMILIES)
    messages = [r.getMessage() for r in caplog.records]
    assert any("cannot write" in m for m in messages) and any("cannot push" in m for m in messages)
