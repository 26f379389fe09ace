"""Conditional-GET state kept between runs: each feed's ETag and Last-Modified.

A run reads `<state dir>/feeds.jsonl` before it starts and sends the validators with its feed
requests, so an unchanged feed costs a 304. The run writes what the servers said to a pending
file; `commit` merges it into `feeds.jsonl` only after the run succeeded, so a failed run never
marks a feed as seen whose entries it did not write.
"""
from __future__ import annotations

import json
import logging
import uuid

from apache_beam.io.filesystems import FileSystems

from pipeline.records import FeedState

STATE_FILE = "feeds.jsonl"
_LOG = logging.getLogger(__name__)


def state_file(state_dir: str) -> str:
    return f"{state_dir.rstrip('/')}/{STATE_FILE}"


def pending_file(state_dir: str) -> str:
    """A new, unique path for one run's state, before it is committed."""
    return f"{state_dir.rstrip('/')}/pending-{uuid.uuid4().hex}-{STATE_FILE}"


def to_json(state: FeedState) -> str:
    return json.dumps(state._asdict(), sort_keys=True)


def _read(path: str) -> dict[str, FeedState]:
    if not FileSystems.exists(path):
        return {}
    states = {}
    with FileSystems.open(path) as handle:
        for number, line in enumerate(handle.read().decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                state = FeedState(**json.loads(line))
            except (ValueError, TypeError) as exc:
                _LOG.warning("%s line %d: ignored, not a feed state (%s)", path, number, exc)
                continue
            states[state.url] = state
    return states


def load(state_dir: str) -> dict[str, FeedState]:
    """Feed URL -> its state from earlier runs (empty when there is none)."""
    return _read(state_file(state_dir))


def commit(state_dir: str, pending: str) -> int:
    """Merge a run's pending state into the state file (newer wins); return the feeds recorded."""
    states = load(state_dir)
    states.update(_read(pending))
    target = state_file(state_dir)
    temporary = f"{pending}.merged"
    with FileSystems.create(temporary) as handle:
        handle.write("".join(to_json(s) + "\n" for _, s in sorted(states.items())).encode("utf-8"))
    FileSystems.rename([temporary], [target])  # replaces the old file in one step on local disks
    if FileSystems.exists(pending):
        FileSystems.delete([pending])
    return len(states)
