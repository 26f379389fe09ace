"""Files a run writes for a commit after it succeeds (feed state, the dedup index), named so that
the commit (`pipeline.lake`) finds them all and no two writers overwrite each other."""

from __future__ import annotations

# Shard names of pending files: the window's span (none in the global window) keeps the windows
# of a streaming segment from overwriting each other's file.
PENDING_SHARDS = "-V-SSSSS-of-NNNNN"
