"""Files a run writes for a commit after it succeeds (feed state, the dedup index, the event
clusters), named so that the commit (`pipeline.lake`) finds them all and no two writers overwrite
each other."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.io import WriteToParquet

from transforms.core.schemas import arrow_schema

# Shard names of pending files: the window's span (none in the global window) keeps the windows
# of a streaming segment from overwriting each other's file.
PENDING_SHARDS = "-V-SSSSS-of-NNNNN"


class WritePending(beam.PTransform):
    """Records -> one Parquet file (per window) `<folder>/part-...parquet` of their type's schema."""

    def __init__(self, folder: str, record: type):
        super().__init__()
        self._folder = folder
        self._record = record

    def expand(self, rows: beam.PCollection) -> Any:
        return (
            rows
            | "AsDicts" >> beam.Map(lambda r: r._asdict())
            | "Write"
            >> WriteToParquet(
                f"{self._folder}/part",
                arrow_schema(self._record),
                file_name_suffix=".parquet",
                num_shards=1,
                shard_name_template=PENDING_SHARDS,
            )
        )
