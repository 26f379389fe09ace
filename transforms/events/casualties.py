"""Casualty counts from a sentence's parse: how many were killed, injured or arrested.

A count is the number attached to the people a casualty word is about: the object of an active
verb ("killing 15 civilians"), the subject of a passive or of "die" ("15 were killed", "two
died"), the noun a casualty adjective describes ("leaving 25 people dead"). Numbers elsewhere in
the sentence ("five bullets hit my car", "three pickup trucks") are not casualties. A singular
person noun counts one ("the secretary was killed"); a bare plural ("civilians were killed") is
an unknown count, not a guess. A death toll gives the total dead: "the death toll rose to 43",
"raised the toll to 12", "the toll stood at 30".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Optional

from spacy.tokens import Span, Token

from transforms.events.grammar import VERBAL, child, forms, is_factual, is_passive, prep_object
from transforms.events.taxonomy import Taxonomy

_UNITS = {
    word: value
    for value, word in enumerate(
        (
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        )
    )
}
_TENS = {
    word: 10 * value
    for value, word in enumerate(
        (
            "twenty",
            "thirty",
            "forty",
            "fifty",
            "sixty",
            "seventy",
            "eighty",
            "ninety",
        ),
        start=2,
    )
}
_SCALES = {"dozen": 12, "hundred": 100, "thousand": 1_000, "million": 1_000_000}
_DIGITS = re.compile(r"\d+")
# Singular nouns that stand for a group of unknown size.
_COLLECTIVE = frozenset(
    {
        "family",
        "crowd",
        "group",
        "convoy",
        "unit",
        "team",
        "police",
        "army",
        "force",
        "staff",
        "crew",
        "patrol",
        "delegation",
        "household",
        "people",
        "personnel",
        "militia",
        "security",
    }
)
_ONE_PERSON = frozenset({"he", "she", "him", "her"})


def parse_number(text: str) -> Optional[int]:
    """'25' -> 25, '1,200' -> 1200, 'twenty-five' -> 25, 'three hundred' -> 300, 'a dozen' -> 12;
    None otherwise ('dozens' is no number)."""
    words = text.lower().replace(",", "").replace("-", " ").split()
    if not words:
        return None
    total = current = 0
    for word in words:
        if word == "and":
            continue
        if _DIGITS.fullmatch(word):
            current += int(word)
        elif word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            return None
    return total + current


def _number_at(token: Token) -> Optional[int]:
    """The value of the number phrase headed by `token` ("three hundred", "1,200")."""
    words = [t for t in token.subtree if t.like_num or t.lower_ in _SCALES]
    return parse_number(" ".join(t.text for t in words)) if words else None


def count_of(noun: Token, singular_is_one: bool = True) -> Optional[int]:
    """How many people `noun` stands for, when the text says."""
    if noun.like_num or noun.pos_ == "NUM":
        return _number_at(noun)
    number = child(noun, "nummod")
    if number is not None:
        return _number_at(number)
    if not singular_is_one:
        return None
    if noun.pos_ == "PRON":
        return 1 if noun.lower_ in _ONE_PERSON else None
    singular = noun.tag_ in ("NN", "NNP") and "Plur" not in noun.morph.get("Number", [])
    if singular and noun.lemma_.lower() not in _COLLECTIVE and noun.ent_type_ in ("", "PERSON"):
        return 1
    return None


def _victims(token: Token, intransitive: frozenset[str]) -> Iterator[Token]:
    """The words naming who a casualty word (killed, dead, injury) happened to."""
    lemma = token.lemma_.lower()
    found: Optional[Token] = None
    if token.pos_ in VERBAL:
        if lemma in intransitive:
            found = child(token, "nsubj")
        elif is_passive(token):
            found = child(token, "nsubjpass", "nsubj") or (token.head if token.dep_ == "acl" else None)
        else:
            found = child(token, "dobj")
    elif token.pos_ == "ADJ":
        found = child(token, "nsubj")
        if found is None and token.dep_ == "amod":
            found = token.head
        elif found is None and token.dep_ in ("acomp", "oprd", "xcomp", "ccomp"):
            found = child(token.head, "nsubj", "nsubjpass", "dobj")
    if found is None:
        return
    yield found
    yield from (c for c in found.conjuncts if c.i > found.i)


class CasualtyCounter:
    """Counts per kind (fatalities, injured, arrested) stated in a sentence."""

    def __init__(self, taxonomy: Taxonomy):
        self._kinds = {word.lower(): kind for kind, words in taxonomy.casualties.items() for word in words}
        self._intransitive = frozenset(w.lower() for w in taxonomy.intransitive_casualty_verbs)
        self._tolls = frozenset(w.lower() for w in taxonomy.death_tolls)
        self._modality = taxonomy.modality

    def count(self, sentence: Span) -> dict[str, int]:
        totals: dict[str, int] = {}
        counted: set[int] = set()
        for token in sentence:
            toll = self._toll(token) if token.lemma_.lower() in self._tolls else None
            if toll:
                totals["fatalities"] = max(totals.get("fatalities", 0), toll)
            kind = next((self._kinds[form] for form in sorted(forms(token)) if form in self._kinds), None)
            if kind is None or not is_factual(token, self._modality):
                continue
            if token.pos_ in ("NOUN", "PROPN"):  # "15 deaths", "the arrest of 12 protesters"
                victims = [prep_object(token, ("of",)) or token]
                singular_is_one = victims[0].i != token.i
            else:
                victims = list(_victims(token, self._intransitive))
                singular_is_one = True
            for victim in victims:
                if victim is None or victim.i in counted:
                    continue
                number = count_of(victim, singular_is_one)
                if number:
                    counted.add(victim.i)
                    totals[kind] = totals.get(kind, 0) + number
        return totals

    def _toll(self, toll: Token) -> Optional[int]:
        """The number a death toll reaches: the object of "to"/"at" or the direct object of the
        verb it is the subject or object of, when that verb is asserted."""
        verb = toll.head
        if toll.dep_ not in ("nsubj", "dobj") or verb.pos_ not in VERBAL or not is_factual(verb, self._modality):
            return None
        prep = child(verb, "prep", lemmas=("to", "at"))
        number = child(prep, "pobj") if prep is not None else child(verb, "dobj")
        if number is None or number.i == toll.i or not (number.like_num or number.pos_ == "NUM"):
            return None
        return _number_at(number)
