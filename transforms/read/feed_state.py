"""Feed state kept between runs, in the state directory, as JSON Lines files of records by key:

- `feeds.jsonl` (`VALIDATORS`): each feed's ETag and Last-Modified. A run sends them with its
  feed requests, so an unchanged feed costs a 304;
- `entries.jsonl` (`ENTRIES`): the feed items already passed on (their link, or feed#guid),
  with when they were first seen. A run skips them before fetching their pages, so a feed that
  changed re-fetches only its new items, and a streaming job emits each item once however many
  polls see it. Items are forgotten `dedup.expiry_days` after they were first seen.

A run writes what it learnt to pending files (one per window when its input is windowed);
`commit` merges them into the state file only after the run succeeded, so a failed run never
marks a feed or item as seen that it did not write.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, Optional, TypeVar

from apache_beam.io.filesystems import FileSystems

from transforms.core.records import FeedState, SeenEntry

_LOG = logging.getLogger(__name__)
R = TypeVar("R", FeedState, SeenEntry)


@dataclasses.dataclass(frozen=True)
class StateFile(Generic[R]):
    """One kind of state: a file of `record`s, one per `key`."""

    name: str
    record: type[R]
    key: str

    def path(self, state_dir: str) -> str:
        return f"{state_dir.rstrip('/')}/{self.name}"

    def pending_file(self, state_dir: str) -> str:
        """A new, unique path prefix for one run's state files, before they are committed."""
        return f"{state_dir.rstrip('/')}/pending-{uuid.uuid4().hex}-{self.name}"

    @staticmethod
    def to_json(record: R) -> str:
        return json.dumps(record._asdict(), sort_keys=True)

    def read(self, path: str) -> dict[str, R]:
        if not FileSystems.exists(path):
            return {}
        records: dict[str, R] = {}
        with FileSystems.open(path) as handle:
            for number, line in enumerate(handle.read().decode("utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = self.record(**json.loads(line))
                except (ValueError, TypeError) as exc:
                    _LOG.warning("%s line %d: ignored, not a %s (%s)", path, number, self.record.__name__, exc)
                    continue
                records[getattr(record, self.key)] = record
        return records

    def load(self, state_dir: str, keep: Callable[[R], bool] = lambda record: True) -> dict[str, R]:
        """Key -> record from earlier runs (empty when there is none), those `keep` accepts."""
        return {key: record for key, record in self.read(self.path(state_dir)).items() if keep(record)}

    def commit(self, state_dir: str, pending: str, keep: Callable[[R], bool] = lambda record: True) -> int:
        """Merge a run's pending records into the state file (the run's win; `keep` filters the
        result) and return how many it holds."""
        records = self.load(state_dir)
        written = [m.path for m in FileSystems.match([f"{pending}*"])[0].metadata_list]
        for path in sorted(written):
            records.update(self.read(path))
        kept = {key: record for key, record in records.items() if keep(record)}
        target, temporary = self.path(state_dir), f"{pending}.merged"
        with FileSystems.create(temporary) as handle:
            handle.write("".join(self.to_json(r) + "\n" for _, r in sorted(kept.items())).encode("utf-8"))
        FileSystems.rename([temporary], [target])  # replaces the old file in one step on local disks
        if written:
            FileSystems.delete(written)
        return len(kept)


VALIDATORS: StateFile[FeedState] = StateFile("feeds.jsonl", FeedState, "url")
ENTRIES: StateFile[SeenEntry] = StateFile("entries.jsonl", SeenEntry, "key")


def unexpired(expiry_days: float, now: Optional[datetime] = None) -> Callable[[SeenEntry], bool]:
    """Seen entries first seen within the last `expiry_days`."""
    limit = ((now or datetime.now(timezone.utc)) - timedelta(days=expiry_days)).isoformat(timespec="seconds")
    return lambda entry: entry.seen >= limit


def read_known(pipeline: Any, state_dir: str, expiry_days: float) -> Optional[Any]:
    """The keys of the entries earlier runs passed on (unexpired), as a PCollection; None if none."""
    import apache_beam as beam

    path = ENTRIES.path(state_dir)
    if not FileSystems.exists(path):
        return None
    keep = unexpired(expiry_days)
    return (
        pipeline
        | "ReadSeenEntries" >> beam.io.ReadFromText(path)
        | "AsSeenEntries" >> beam.Map(lambda line: SeenEntry(**json.loads(line))).with_output_types(SeenEntry)
        | "Unexpired" >> beam.Filter(keep)
        | "EntryKeys" >> beam.Map(lambda entry: entry.key).with_output_types(str)
    )


def seen_now(key: str, when: Optional[Any] = None) -> SeenEntry:
    moment = when or datetime.now(timezone.utc)
    return SeenEntry(key=key, seen=moment.astimezone(timezone.utc).isoformat(timespec="seconds"))
