"""Places in a parsed article: which named places are countries, and the article's main place.

Country names come from pycountry (ISO 3166 names, official and common names) plus the short
forms news uses ("US", "UK", "Russia", "Iran"). Full geocoding (subdivisions, coordinates) is
not done here.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Optional

import pycountry
from spacy.tokens import Doc, Span

from transforms.nlp import entity_name

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})

# Short forms in news use that ISO 3166 does not list as names.
_ALIASES = ("us", "u.s.", "usa", "u.s.a.", "america", "united states of america", "uk", "u.k.",
            "britain", "great britain", "england", "scotland", "wales", "russia", "iran", "syria",
            "south korea", "north korea", "vietnam", "laos", "bolivia", "venezuela", "tanzania",
            "moldova", "palestine", "taiwan", "czech republic", "ivory coast", "drc", "dr congo",
            "democratic republic of congo", "congo", "burma", "macedonia", "turkey", "the netherlands",
            "holland", "vatican", "kosovo", "east timor", "swaziland", "cape verde")


@lru_cache(maxsize=1)
def _country_names() -> frozenset[str]:
    names = set(_ALIASES)
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                names.add(value.lower())
                names.add(value.split(",")[0].lower())  # "Korea, Republic of" -> "korea"
    return frozenset(names)


def is_country(name: str) -> bool:
    return name.lower().removeprefix("the ") in _country_names()


def places(span: Span | Doc) -> list[Span]:
    """Place entities (GPE, LOC, FAC) in document order."""
    return [ent for ent in span.ents if ent.label_ in PLACE_LABELS]


def _most_named(doc: Doc, countries: bool) -> Optional[str]:
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    for ent in places(doc):
        name = entity_name(ent)
        if name and is_country(name) == countries:
            counts[name.casefold()] += 1
            names.setdefault(name.casefold(), name)
    return names[counts.most_common(1)[0][0]] if counts else None


def main_place(doc: Doc) -> Optional[str]:
    """The most often named place below country level (ties: the one named first)."""
    return _most_named(doc, countries=False)


def main_country(doc: Doc) -> Optional[str]:
    """The most often named country (ties: the one named first)."""
    return _most_named(doc, countries=True)
