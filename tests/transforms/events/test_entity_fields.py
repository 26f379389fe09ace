"""Events carry their actor's sector and country and their location's geocoding."""

from __future__ import annotations

from typing import Any, Optional

from transforms.core.records import Entity, Event
from transforms.events.entity_fields import actor_entity, attach, place_entity


def entity(
    name: str,
    label: str = "ORG",
    sector: Optional[str] = None,
    country: Optional[str] = None,
    geo: Optional[str] = None,
    variants: tuple[str, ...] = (),
    mentions: int = 1,
) -> Entity:
    return Entity(
        entity_id=name,
        article_id="a",
        name=name,
        label=label,
        place_type=None,
        sector=sector,
        country=country,
        subdivision=None,
        latitude=None,
        longitude=None,
        geo=geo,
        mention_count=mentions,
        first_offset=0,
        salience=0.5,
        variants=[name, *variants],
    )


ENTITIES = [
    entity("Taliban", sector="REB", country="AFG"),
    entity("militia", "ACTOR", sector="REB", variants=("fighters", "militants")),
    entity("army", "ACTOR", sector="MIL", variants=("troops", "military")),
    entity("army", "ACTOR", sector="MIL", country="TJK", variants=("troops",)),
    entity("army", "ACTOR", sector="MIL", country="AFG", variants=("troops",)),
    entity("Afghan", "NORP", sector="MIL"),
    entity("Kabul", "GPE", country="AFG", geo="city"),
    entity("Kohistan", "GPE", geo="unresolved"),
]


def test_actor_phrases_take_the_entity_they_name() -> None:
    def sector_of(phrase: str) -> Any:
        found = actor_entity(phrase, ENTITIES)
        return (found.name, found.sector) if found else None

    assert sector_of("Taliban fighters") == ("Taliban", "REB")  # the one with a country
    assert sector_of("Afghan troops") == ("army", "MIL")  # the head of the phrase
    assert actor_entity("Tajik troops", ENTITIES).country == "TJK"  # the country the phrase names
    assert actor_entity("Afghan troops", ENTITIES).country == "AFG"
    assert sector_of("a group of militants") == ("militia", "REB")
    assert sector_of("unknown gunmen") is None and sector_of(None) is None  # nothing is guessed


def test_locations_take_the_place_entity_of_their_name() -> None:
    assert place_entity("Kabul", ENTITIES).country == "AFG"
    assert place_entity("Kohistan", ENTITIES).geo == "unresolved"
    assert place_entity("Herat", ENTITIES) is None


def test_names_that_are_no_names_are_null_and_locations_take_the_entity_spelling() -> None:
    fields: dict[str, Any] = dict.fromkeys(Event._fields)
    event = Event(**{**fields, "actor": "\ufffd\ufffd", "target": "2,000", "location": "NEW DELHI"})
    delhi = entity("New Delhi", "GPE", country="IND", geo="city", variants=("NEW DELHI",))
    attached = attach(event, [delhi])
    assert (attached.actor, attached.target) == (None, None)
    assert (attached.location, attached.location_country) == ("New Delhi", "IND")
    province = entity("Kandahar", "GPE", country="AFG", geo="subdivision", variants=("Kandahar province",))
    assert attach(event._replace(location="Kandahar province"), [province]).location == "Kandahar province"


def test_seed_events_carry_actor_sectors_and_geocoded_locations(seeds_run: dict[str, Any]) -> None:
    events = seeds_run["tables"]["events"]
    seizure = next(
        e
        for e in events
        if e["event_type"] == "territory_taken" and e["location"] == "Kohistan" and e["actor"] == "Taliban"
    )
    assert (seizure["actor_sector"], seizure["actor_country"]) == ("REB", "AFG")
    bombing = next(e for e in events if e["event_type"] == "bombing" and e["location"] == "Kabul")
    assert bombing["location_country"] == "AFG" and bombing["latitude"] and bombing["longitude"]
    crossing = next(e for e in events if e["event_type"] == "retreat" and "Badakhshan" in (e["location"] or ""))
    assert (crossing["location_country"], crossing["location_subdivision"]) == ("AFG", "AF-BDS")
