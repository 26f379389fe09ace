"""Events meet entities: the actor and location phrases of an event are matched to the article's
entity rows, so events carry the actor's sector and country and the location's geocoding.

An actor phrase (`Taliban fighters`, `the security forces`) takes the entity whose name or a
surface form appears in it as whole words (see `actor_entity` for which wins); a location takes
the place entity of that name. What matches nothing stays empty: nothing is guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

from transforms.core.names import name_or_none, same_name
from transforms.core.records import Entity, Event
from transforms.geo.countries import owner_code

_WORDS = re.compile(r"\w+")


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORDS.findall(text.casefold()))


def _contains(phrase: tuple[str, ...], form: tuple[str, ...]) -> bool:
    return bool(form) and any(phrase[i : i + len(form)] == form for i in range(len(phrase) - len(form) + 1))


def actor_entity(phrase: Optional[str], entities: Sequence[Entity]) -> Optional[Entity]:
    """The entity an actor phrase names: one with a sector, of the country the phrase names
    (`Tajik troops` are the troops of TJK, not the Afghan ones of the same article), with a
    country, at the phrase's head (its last words: `Afghan troops` is troops), the longest form,
    in that order of preference."""
    if not phrase:
        return None
    words = _words(phrase)
    owner = next((code for code in map(owner_code, words) if code), None)
    best: Optional[tuple[tuple[int, int, int, int, int], Entity]] = None
    for entity in entities:
        found = [f for f in (_words(v) for v in (entity.name, *entity.variants)) if _contains(words, f)]
        if not found:
            continue
        form = max(found, key=len)
        rank = (
            int(bool(entity.sector)),
            int(owner is not None and entity.country == owner),
            int(bool(entity.country)),
            int(words[-len(form) :] == form),
            len(form),
        )
        if best is None or rank > best[0]:
            best = (rank, entity)
    return best[1] if best else None


def place_entity(location: Optional[str], entities: Sequence[Entity]) -> Optional[Entity]:
    if not location:
        return None
    wanted = _words(location)
    found = [
        e for e in entities if e.geo and (_words(e.name) == wanted or any(_words(v) == wanted for v in e.variants))
    ]
    return max(found, key=lambda e: (e.geo != "unresolved", e.mention_count)) if found else None


def attach(event: Event, entities: Sequence[Entity]) -> Event:
    """The event with its actor's sector and country and its location's geocoding, where known.

    Actor, target and location phrases that are no name (`transforms.core.names.is_name`) become
    null; a location spelt as a place entity's name but for case takes the entity's spelling
    ("NEW DELHI" in a dateline -> "New Delhi")."""
    event = event._replace(
        actor=name_or_none(event.actor), target=name_or_none(event.target), location=name_or_none(event.location)
    )
    actor = actor_entity(event.actor, entities)
    place = place_entity(event.location, entities)
    return event._replace(
        location=place.name if place and event.location and same_name(place.name, event.location) else event.location,
        actor_sector=actor.sector if actor else None,
        actor_country=actor.country if actor and actor.sector else None,
        location_country=place.country if place else None,
        location_subdivision=place.subdivision if place else None,
        latitude=place.latitude if place else None,
        longitude=place.longitude if place else None,
    )
