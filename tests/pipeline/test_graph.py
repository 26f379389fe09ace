"""The pipeline graph: typed tables, and one model per worker process."""

from __future__ import annotations

import pickle

import apache_beam as beam
from apache_beam.utils import shared

from pipeline.config import load_settings
from pipeline.graph import build_pipeline
from tests.conftest import LOCAL_CONFIG, MODEL, SEEDS, graph_job
from transforms.core.records import TABLES_BY_NAME
from transforms.core.settings import EntitiesSettings
from transforms.entities.stage import AnnotateFn


def test_every_table_is_a_pcollection_of_its_record_with_a_beam_schema() -> None:
    pipeline = beam.Pipeline(runner="FnApiRunner")
    tables = build_pipeline(pipeline, graph_job(load_settings(str(LOCAL_CONFIG)), patterns=[f"{SEEDS}/*"]))
    for name, pcoll in tables._asdict().items():
        assert pcoll.element_type is TABLES_BY_NAME[name].record, name
        assert isinstance(beam.coders.registry.get_coder(pcoll.element_type), beam.coders.RowCoder), name


def test_copies_of_the_entity_dofn_in_one_process_share_one_model() -> None:
    fn = AnnotateFn(EntitiesSettings(model=MODEL), shared.Shared())
    first, second = pickle.loads(pickle.dumps(fn)), pickle.loads(pickle.dumps(fn))  # as a runner deserialises them
    first.setup()
    second.setup()
    assert first._annotator.model is second._annotator.model
    assert first._annotator.gazetteer is second._annotator.gazetteer
