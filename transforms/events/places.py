"""Places in a parsed article: which named places are countries, and the article's main place.

Country names come from `transforms.geo.countries`; geocoding is `transforms.geo.geocode`.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from spacy.tokens import Doc, Span

from transforms.entities.nlp import entity_name
from transforms.geo.countries import is_country

PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})


def places(span: Span | Doc) -> list[Span]:
    """Place entities (GPE, LOC, FAC) in document order, named as places: not a capital or
    country standing for its government as the doer of an act ("Moscow said that...",
    "the pretext that Washington used")."""
    return [ent for ent in span.ents if ent.label_ in PLACE_LABELS and not _acting(ent)]


def _acting(ent: Span) -> bool:
    """The place is the subject of a verb with an object or a clause, or of a relative clause
    (whose object is the noun it modifies): it acts, it is no location ("Kabul fell" keeps its place)."""
    root = ent.root
    verb = root.head
    return (
        root.dep_ == "nsubj"
        and verb.pos_ == "VERB"
        and (verb.dep_ == "relcl" or any(c.dep_ in ("dobj", "ccomp", "xcomp") for c in verb.children))
    )


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
