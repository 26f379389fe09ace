"""Story-level merge: the event mentions that report one real-world event -> `EventCluster` rows.

Mentions are one event when they have the same event type, the same place, dates within a day,
and actors that agree. Mentions are keyed by (event type, place), a Beam key, so the work is a
GroupByKey that scales out; within a key:

- a mention's day is its event date (when known to the day), else its article's publication day;
- mentions naming an actor join the cluster of the same actor (sector and country where the
  entity stage gave them, else the actor's name) whose first day is within a day of theirs;
- a mention naming no actor joins the one cluster within a day, if exactly one; else it starts
  its own (with several candidates it is ambiguous, and is not guessed into one);
- mentions without a place are keyed by their article: they merge only within it.

The per-mention rows stay in `events`. Across runs (`ClusterEvents(earlier=...)`, the lake with
the cross-run index: `transforms.events.cluster_store`), the clusters earlier runs wrote under the
same key take part as they are: a new mention joins one by the same rules (its actor, its first
day), and the cluster is written again under its id, its mentions, articles, sources and largest
tolls grown (`updated`); earlier clusters no new mention joins are not written again. A group that
cannot be clustered (a bug) gives one cluster per mention, counted in
`newsbeam.event_clusters/fallbacks`: no mention is left out.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Optional, TypeVar

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.ids import stable_id
from transforms.core.records import Event, EventCluster
from transforms.events.dates import DAY
from transforms.geo.countries import fold

WINDOW = timedelta(days=1)
_LOG = logging.getLogger(__name__)
T = TypeVar("T")


def cluster_key(event: Event) -> str:
    """The Beam key of a mention: its event type and place (or its article, when it has no place)."""
    place = fold(event.location) if event.location else f"article:{event.article_id}"
    return f"{event.event_type}|{place}"


def earlier_key(cluster: EventCluster) -> str:
    """The key of an earlier run's cluster (one with a place: those without never merge across articles)."""
    return f"{cluster.event_type}|{fold(cluster.location or '')}"


def day_of(event: Event) -> Optional[datetime]:
    if event.event_date is not None and event.date_precision == DAY:
        return event.event_date
    if event.published is not None:
        return event.published.replace(hour=0, minute=0, second=0, microsecond=0)
    return None


def actor_key(record: Event | EventCluster) -> Optional[str]:
    """Who did it, as mentions must agree on it: the actor's sector and country, else its name."""
    if record.actor_sector:
        return f"{record.actor_sector}|{record.actor_country or ''}"
    return fold(record.actor) if record.actor else None


def _order(event: Event) -> tuple[bool, float, str]:
    """Mentions by day (undated last), then id: the same order in every run."""
    day = day_of(event)
    return day is None, day.timestamp() if day is not None else 0.0, event.event_id


def _near(a: Optional[datetime], b: Optional[datetime]) -> bool:
    return a is None or b is None or abs(a - b) <= WINDOW


class _Cluster:
    """A real-world event: the run's mentions of it, and the earlier run's cluster it continues."""

    def __init__(self, first: Optional[Event] = None, earlier: Optional[EventCluster] = None):
        self.members = [first] if first is not None else []
        self.earlier = earlier
        self.day: Optional[datetime] = None
        self.actor: Optional[str] = None
        if earlier is not None:
            self.day, self.actor = earlier.first_date, actor_key(earlier)
        elif first is not None:
            self.day, self.actor = day_of(first), actor_key(first)


def regroup(
    mentions: Iterable[Event], earlier: Sequence[EventCluster] = ()
) -> list[tuple[Optional[EventCluster], list[Event]]]:
    """The mentions of one key, grouped into real-world events (see the module's rules), with the
    clusters of earlier runs as groups they can join: (the earlier cluster or None, its new mentions)."""
    ordered = sorted(mentions, key=_order)
    clusters = [_Cluster(earlier=row) for row in sorted(earlier, key=lambda c: (c.first_date, c.cluster_id))]
    actorless = []
    for event in ordered:
        key = actor_key(event)
        if key is None:
            actorless.append(event)
            continue
        home = next((c for c in clusters if c.actor == key and _near(c.day, day_of(event))), None)
        if home is None:
            clusters.append(_Cluster(event))
        else:
            home.members.append(event)
    for event in actorless:
        near = [c for c in clusters if _near(c.day, day_of(event))]
        if len(near) == 1:
            near[0].members.append(event)
        elif near and all(c.actor is None for c in near):
            near[0].members.append(event)
        else:
            clusters.append(_Cluster(event))
    return [(c.earlier, c.members) for c in clusters]


def group(mentions: Iterable[Event]) -> list[list[Event]]:
    """The mentions of one key, grouped into real-world events within the run."""
    return [members for _, members in regroup(mentions)]


def _most(values: Iterable[Optional[T]]) -> Optional[T]:
    counts = Counter(v for v in values if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def _largest(values: Iterable[Optional[int]]) -> Optional[int]:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def cluster_row(members: Sequence[Event]) -> EventCluster:
    """One `EventCluster` from its mentions."""
    first = min(members, key=_order)
    actor = _most(e.actor for e in members)
    with_actor = [e for e in members if e.actor == actor] or list(members)
    location = _most(e.location for e in members)
    placed = next((e for e in members if e.location == location and e.location_country), None)
    days = [d for d in map(day_of, members) if d is not None]
    return EventCluster(
        cluster_id=stable_id("cluster", first.event_id),
        event_type=first.event_type,
        plover_type=first.plover_type,
        plover_mode=first.plover_mode,
        cameo_root=first.cameo_root,
        acled_event_type=first.acled_event_type,
        acled_sub_event_type=_most(e.acled_sub_event_type for e in members),
        actor=actor,
        actor_sector=_most(e.actor_sector for e in with_actor),
        actor_country=_most(e.actor_country for e in with_actor),
        target=_most(e.target for e in members),
        location=location,
        location_country=placed.location_country if placed else None,
        location_subdivision=placed.location_subdivision if placed else None,
        latitude=placed.latitude if placed else None,
        longitude=placed.longitude if placed else None,
        first_date=min(days) if days else None,
        last_date=max(days) if days else None,
        fatalities=_largest(e.fatalities for e in members),
        injured=_largest(e.injured for e in members),
        arrested=_largest(e.arrested for e in members),
        confidence=max(e.confidence for e in members),
        mentions=len(members),
        articles=len({e.article_id for e in members}),
        sources=sorted({e.publisher for e in members if e.publisher}),
        event_ids=sorted(e.event_id for e in members),
        article_ids=sorted({e.article_id for e in members}),
    )


def updated(cluster: EventCluster, members: Sequence[Event]) -> EventCluster:
    """An earlier run's cluster with new mentions: its id, place and type kept; mentions, articles,
    sources, dates and the largest tolls and confidence grown; the actor and target kept unless it
    had none. A mention it already holds (its event id) adds nothing, so a repeat changes nothing."""
    held = set(cluster.event_ids)
    fresh = [e for e in members if e.event_id not in held]
    if not fresh:
        return cluster
    days = [d for d in (cluster.first_date, cluster.last_date, *map(day_of, fresh)) if d is not None]
    event_ids = sorted({*cluster.event_ids, *(e.event_id for e in fresh)})
    article_ids = sorted({*cluster.article_ids, *(e.article_id for e in fresh)})
    return cluster._replace(
        actor=cluster.actor or _most(e.actor for e in fresh),
        actor_sector=cluster.actor_sector or _most(e.actor_sector for e in fresh),
        actor_country=cluster.actor_country or _most(e.actor_country for e in fresh),
        target=cluster.target or _most(e.target for e in fresh),
        first_date=min(days) if days else None,
        last_date=max(days) if days else None,
        fatalities=_largest([cluster.fatalities, *(e.fatalities for e in fresh)]),
        injured=_largest([cluster.injured, *(e.injured for e in fresh)]),
        arrested=_largest([cluster.arrested, *(e.arrested for e in fresh)]),
        confidence=max(cluster.confidence, *(e.confidence for e in fresh)),
        mentions=len(event_ids),
        articles=len(article_ids),
        sources=sorted({*cluster.sources, *(e.publisher for e in fresh if e.publisher)}),
        event_ids=event_ids,
        article_ids=article_ids,
    )


def latest(clusters: Iterable[EventCluster]) -> list[EventCluster]:
    """One row per cluster id: the one with the most mentions (a cluster only grows)."""
    best: dict[str, EventCluster] = {}
    for cluster in clusters:
        if cluster.cluster_id not in best or cluster.mentions > best[cluster.cluster_id].mentions:
            best[cluster.cluster_id] = cluster
    return list(best.values())


class ClusterFn(beam.DoFn):
    """(key, mentions) or (key, {"new": mentions, "earlier": clusters}) -> EventCluster rows: the
    run's new clusters and the earlier clusters its mentions joined."""

    def __init__(self) -> None:
        self._fallbacks = Metrics.counter(metrics.EVENT_CLUSTERS, metrics.CLUSTER_FALLBACKS)
        self._updated = Metrics.counter(metrics.EVENT_CLUSTERS, metrics.CLUSTERS_UPDATED)

    def process(self, keyed: tuple[str, Any]) -> Iterator[EventCluster]:
        key, value = keyed
        mentions = list(value["new"] if isinstance(value, dict) else value)
        earlier = latest(value["earlier"]) if isinstance(value, dict) else []
        if not mentions:
            return
        try:
            groups = regroup(mentions, earlier)
            clusters = [updated(old, members) if old else cluster_row(members) for old, members in groups if members]
        except Exception:  # pylint: disable=broad-except  # a bug: keep every mention, as its own cluster
            _LOG.warning(
                "could not cluster the %d event mentions of %s; one cluster each", len(mentions), key, exc_info=True
            )
            self._fallbacks.inc()
            clusters = [cluster_row([mention]) for mention in mentions]
        else:
            self._updated.inc(sum(1 for old, members in groups if old and members))
        yield from clusters


class ClusterEvents(beam.PTransform):
    """Event -> EventCluster: one row per real-world event reported in the run; with `earlier`
    (a PCollection of the clusters earlier runs wrote), the earlier clusters the run's mentions
    join, updated under their ids."""

    def __init__(self, earlier: Optional[beam.PCollection] = None):
        super().__init__()
        self._earlier = earlier

    def expand(self, events: beam.PCollection) -> beam.PCollection:
        keyed = events | "KeyByTypeAndPlace" >> beam.Map(lambda e: (cluster_key(e), e)).with_output_types(
            tuple[str, Event]
        )
        if self._earlier is None:
            grouped = keyed | "GroupMentions" >> beam.GroupByKey()
        else:
            earlier = self._earlier | "KeyEarlier" >> beam.Map(lambda c: (earlier_key(c), c)).with_output_types(
                tuple[str, EventCluster]
            )
            grouped = {"new": keyed, "earlier": earlier} | "GroupWithEarlier" >> beam.CoGroupByKey()
        return grouped | "Cluster" >> beam.ParDo(ClusterFn()).with_output_types(EventCluster)
