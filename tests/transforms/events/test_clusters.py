"""Story-level merge: mentions of one real-world event across sentences and articles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.core.records import Event, EventCluster
from transforms.events.clusters import ClusterEvents, cluster_row, group, regroup, updated

MAY_1 = datetime(2021, 5, 1, tzinfo=timezone.utc)


def mention(
    event_id: str,
    article: str,
    *,
    event_type: str = "bombing",
    location: Optional[str] = "Kabul",
    day: int = 0,
    actor: Optional[str] = None,
    sector: Optional[str] = None,
    fatalities: Optional[int] = None,
    publisher: Optional[str] = None,
    dated: bool = True,
) -> Event:
    fields: dict[str, Any] = dict.fromkeys(Event._fields)
    fields.update(
        event_id=event_id,
        article_id=article,
        sentence_index=0,
        sentence="...",
        event_type=event_type,
        plover_type="ASSAULT",
        plover_mode="explosives",
        cameo_root="18",
        acled_event_type="Explosions/Remote violence",
        acled_sub_event_type="Remote explosive/landmine/IED",
        trigger="blast",
        actor=actor,
        actor_sector=sector,
        location=location,
        fatalities=fatalities,
        confidence=0.8,
        publisher=publisher,
        location_country="AFG" if location else None,
        event_date=MAY_1 + timedelta(days=day) if dated else None,
        date_precision="day" if dated else None,
        published=MAY_1 + timedelta(days=day, hours=6),
    )
    return Event(**fields)


def test_one_blast_reported_by_three_wires_is_one_event_with_its_largest_toll() -> None:
    mentions = [
        mention("a1", "wire-a", fatalities=20, publisher="Wire A"),
        mention("b1", "wire-b", fatalities=25, publisher="Wire B", day=1),  # reported the next day
        mention("c1", "wire-c", publisher="Wire C"),
    ]
    (members,) = group(mentions)
    row = cluster_row(members)
    assert (row.mentions, row.articles, row.fatalities) == (3, 3, 25)
    assert row.sources == ["Wire A", "Wire B", "Wire C"] and row.event_ids == ["a1", "b1", "c1"]
    assert (row.first_date, row.last_date) == (MAY_1, MAY_1 + timedelta(days=1))


def test_different_days_places_actors_or_types_are_different_events() -> None:
    mentions = [
        mention("a", "x", actor="Taliban", sector="REB"),
        mention("b", "y", actor="Taliban fighters", sector="REB"),
        mention("c", "z", actor="police", sector="COP"),
        mention("d", "w", day=3, actor="Taliban", sector="REB"),
        mention("e", "v", location="Herat", actor="Taliban", sector="REB"),
        mention("f", "u", event_type="airstrike", actor="Taliban", sector="REB"),
    ]
    keyed: dict[str, list[Event]] = {}
    for event in mentions:  # as the stage keys them: by type and place
        keyed.setdefault(f"{event.event_type}|{event.location}", []).append(event)
    found = sorted(sorted(e.event_id for e in members) for key in keyed for members in group(keyed[key]))
    assert found == [["a", "b"], ["c"], ["d"], ["e"], ["f"]]


def test_a_mention_without_actor_joins_the_one_cluster_nearby_but_never_guesses_between_two() -> None:
    one = group([mention("a", "x", actor="Taliban", sector="REB"), mention("b", "y")])
    assert [sorted(e.event_id for e in members) for members in one] == [["a", "b"]]
    two = group(
        [
            mention("a", "x", actor="Taliban", sector="REB"),
            mention("c", "z", actor="police", sector="COP"),
            mention("b", "y"),
        ]
    )
    assert sorted(sorted(e.event_id for e in members) for members in two) == [["a"], ["b"], ["c"]]


def test_mentions_without_a_place_merge_only_within_their_article() -> None:
    mentions = [mention("a", "x", location=None), mention("b", "x", location=None), mention("c", "y", location=None)]
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        clusters = p | beam.Create(mentions) | ClusterEvents()
        assert_that(
            clusters | beam.Map(lambda c: (tuple(c.event_ids), c.articles)), equal_to([(("a", "b"), 1), (("c",), 1)])
        )


def test_the_stage_keys_by_type_and_place_and_ids_are_stable() -> None:
    mentions = [
        mention("a", "x"),
        mention("b", "y"),
        mention("c", "z", location="Herat"),
        mention("d", "x", event_type="airstrike"),
    ]
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        clusters = p | beam.Create(mentions) | ClusterEvents()
        assert_that(
            clusters | beam.Map(lambda c: (c.event_type, c.location, tuple(c.event_ids))),
            equal_to([("bombing", "Kabul", ("a", "b")), ("bombing", "Herat", ("c",)), ("airstrike", "Kabul", ("d",))]),
        )
    assert cluster_row([mentions[0], mentions[1]]).cluster_id == cluster_row([mentions[1], mentions[0]]).cluster_id


def earlier_cluster(*mentions: Event) -> EventCluster:
    """The row an earlier run wrote for these mentions."""
    return cluster_row(list(mentions))


def test_a_later_runs_report_joins_the_earlier_cluster_under_its_id() -> None:
    before = earlier_cluster(mention("a", "x", fatalities=12, publisher="Wire A"))
    later = [
        mention("b", "y", day=1, fatalities=19, publisher="Wire B"),  # a day later, the toll revised
        mention("c", "y", day=5, publisher="Wire B"),  # days later: another blast
    ]
    grouped = regroup(later, [before])
    joined = next(members for old, members in grouped if old is not None)
    assert [e.event_id for e in joined] == ["b"]
    row = updated(before, joined)
    assert row.cluster_id == before.cluster_id
    assert (row.mentions, row.articles, row.sources, row.fatalities) == (2, 2, ["Wire A", "Wire B"], 19)
    assert (row.event_ids, row.first_date, row.last_date) == (["a", "b"], MAY_1, MAY_1 + timedelta(days=1))
    assert updated(row, joined) == row  # the same report again adds nothing
    assert [[e.event_id for e in members] for old, members in grouped if old is None] == [["c"]]


def test_an_earlier_cluster_of_another_actor_is_not_joined() -> None:
    before = earlier_cluster(mention("a", "x", actor="Taliban", sector="REB"))
    grouped = regroup([mention("b", "y", actor="army", sector="MIL")], [before])
    assert [(old is not None, [e.event_id for e in members]) for old, members in grouped] == [
        (True, []),
        (False, ["b"]),
    ]


def test_the_stage_writes_new_clusters_and_the_earlier_ones_it_updated_only() -> None:
    joined, untouched = earlier_cluster(mention("a", "x")), earlier_cluster(mention("h", "x", location="Herat"))
    stale = joined._replace(mentions=0)  # an older row of the same cluster, from an earlier file
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        earlier = p | "Earlier" >> beam.Create([joined, untouched, stale])
        clusters = (
            p | beam.Create([mention("b", "y"), mention("d", "y", event_type="airstrike")]) | ClusterEvents(earlier)
        )
        assert_that(
            clusters | beam.Map(lambda c: (c.cluster_id == joined.cluster_id, c.event_type, tuple(c.event_ids))),
            equal_to([(True, "bombing", ("a", "b")), (False, "airstrike", ("d",))]),
        )
