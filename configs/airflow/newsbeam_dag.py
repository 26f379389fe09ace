"""Airflow DAG: the scheduled newsbeam feeds run, hourly, with Beam's Python pipeline operator.

Copy it into the DAGs folder of an Airflow with apache-airflow-providers-apache-beam installed,
and set NEWSBEAM_HOME to a newsbeam checkout whose .venv holds newsbeam (`make run` makes it).
Each run passes its logical time as run_id, so its tables land in their own dt=/run= partition
and a retry replaces the partition of the try it retries; the cross-run index and the feed
validators in the state directory make each run add only what no earlier run saw.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

NEWSBEAM_HOME = os.environ.get("NEWSBEAM_HOME", "/srv/newsbeam")
# Each run pushes its metrics (documents, dead letters by stage, events by family, durations, last
# success) to this Pushgateway; alert on `time() - newsbeam_last_success_timestamp_seconds`.
PUSHGATEWAY = os.environ.get("NEWSBEAM_PUSHGATEWAY", "http://localhost:9091")

with DAG(
    dag_id="newsbeam_feeds",
    description="Ingest the configured news feeds into the newsbeam tables",
    schedule="@hourly",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # runs share the state directory: one at a time
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["newsbeam"],
) as dag:
    ingest = BeamRunPythonPipelineOperator(
        task_id="ingest_feeds",
        py_file="pipeline.launch",  # `python -m pipeline.launch` is `newsbeam run`
        py_options=["-m"],
        py_interpreter=f"{NEWSBEAM_HOME}/.venv/bin/python",
        runner="FnApiRunner",  # or DataflowRunner with configs/dataflow.yaml
        pipeline_options={
            "config": f"{NEWSBEAM_HOME}/configs/feeds.yaml",
            "output": f"{NEWSBEAM_HOME}/output/feeds",
            "set": [
                "run_id={{ ts_nodash }}Z",
                f"monitoring.pushgateway={PUSHGATEWAY}",
                "monitoring.job=newsbeam_feeds",
            ],
        },
    )
