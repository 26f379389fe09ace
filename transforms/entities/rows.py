"""One parsed article -> its `Entity` rows: mentions merged, actors typed, places geocoded.

- Mentions with the same normalised name (no leading article, no possessive, no trailing place
  word, case ignored) merge into one row with the most frequent label, under the spelling
  `transforms.core.names` prefers; a mention that is no proper name (no letter, undecodable
  bytes, no capital in cased text) is no entity; places named as different kinds stay
  apart ("Kandahar province", "Kandahar city"), a bare mention joins the one kind named, and
  spelling variants merge ("Badakhshan", "Badakshan").
- Named actors of the dictionary take over the mention they overlap (`ISIS` -> Islamic State);
  ones NER missed are entities labelled ACTOR.
- Roles (troops, officials, judges) take the country of their owner: a nationality or country
  before them or after "of" ("Afghan troops", "Sudan's government", "the president of Armenia");
  owned by a named actor they are that actor ("Taliban fighters"). The owner entity takes the
  role's sector ("Hungarian officials": Hungarian is GOV), as PLOVER codes it.
- A person named after a role word ("President Obama", "Taliban spokesman Zabihullah Mujahid",
  "Tom King, the defence secretary") takes the role's sector and its owner's country; an
  organisation whose name holds a role word at its head takes its sector ("Supreme Court": JUD).
- Nationalities get their country (`Afghan` -> AFG); places are geocoded in each other's context.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping
from typing import NamedTuple, Optional

from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from transforms.core.ids import stable_id
from transforms.core.names import is_proper_name, name_key, preferred_spelling
from transforms.core.records import Entity
from transforms.entities.actors import TITLE, Actor
from transforms.entities.nlp import ACTOR_SPANS, entity_name, place_noun_of
from transforms.geo.countries import demonym_code, is_country, owner_code
from transforms.geo.geocode import UNRESOLVED, Gazetteer, Place

ACTOR_LABEL = "ACTOR"  # an actor the dictionary found where NER found nothing
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
SPELLING_SIMILARITY = 0.9  # difflib ratio from which two names of one label are one name misspelt
_MIN_SPELLING_LENGTH = 5  # shorter names differ by a letter too often (Iran, Iraq)
_OWNER_LABELS = frozenset({"NORP", "GPE", "ORG"})  # entities a role can belong to
_OWNER_DEPS = frozenset({"poss", "compound", "amod", "nmod"})  # "Sudan's", "U.S.", "Afghan" + role
_OWNER_PREPS = frozenset({"of", "from"})  # "the president of Armenia", "troops from Chad"


class _Key(NamedTuple):
    name: str  # case-folded name
    kind: Optional[str] = None  # place type
    country: Optional[str] = None  # a role's owner country: "government forces" of AFG and of TJK differ


class _Group:
    """The mentions of one entity in one document."""

    def __init__(self, first: int, actor: Optional[Actor] = None):
        self.names: Counter[str] = Counter()
        self.labels: Counter[str] = Counter()
        self.variants: dict[str, None] = {}
        self.first = first
        self.actor = actor
        self.sectors: Counter[str] = Counter()  # of the roles it holds or qualifies
        self.countries: Counter[str] = Counter()  # of the owners of its titles

    @property
    def name(self) -> str:
        return preferred_spelling(self.names.most_common())

    @property
    def label(self) -> str:
        return self.labels.most_common(1)[0][0]

    @property
    def mentions(self) -> int:
        return sum(self.names.values())

    def add(self, name: str, label: str, surface: str, start: int) -> None:
        self.names[name] += 1
        self.labels[label] += 1
        self.variants.setdefault(surface, None)
        self.first = min(self.first, start)

    def absorb(self, other: _Group) -> None:
        self.actor = self.actor or other.actor
        self.names.update(other.names)
        self.labels.update(other.labels)
        self.sectors.update(other.sectors)
        self.countries.update(other.countries)
        for variant in other.variants:
            self.variants.setdefault(variant, None)
        self.first = min(self.first, other.first)


class _Document:
    """The groups of one document, built mention by mention."""

    def __init__(self, doc: Doc, labels: frozenset[str], place_words: frozenset[str], actors: Mapping[str, Actor]):
        self.doc = doc
        self.actors = actors
        self.place_words = place_words
        ents = list(doc.ents)  # spaCy builds the spans anew on every access
        self.ents = [e for e in ents if e.label_ in labels]
        found = filter_spans(list(doc.spans[ACTOR_SPANS])) if ACTOR_SPANS in doc.spans else []
        self.matches = [m for m in found if m.id_ in actors]
        # What a role can belong to: nationalities, countries, organisations (and names NER
        # mislabelled that are nationalities or countries: "Tajik" as PERSON), and named actors.
        self.owners = [
            *(e for e in ents if e.label_ in _OWNER_LABELS or owner_code(entity_name(e))),
            *(m for m in self.matches if not actors[m.id_].role),
        ]
        self.groups: dict[_Key, _Group] = {}
        self.used: set[int] = set()  # start tokens of matches already part of an entity
        self.key_of_token: dict[int, _Key] = {}  # token -> the group of the entity it is in

    def add(
        self, key: _Key, name: str, label: str, span: Span, start: Optional[int] = None, actor: Optional[Actor] = None
    ) -> _Group:
        group = self.groups.setdefault(key, _Group(span.start_char, actor))
        group.add(name, label, span.text, span.start_char if start is None else start)
        for i in range(span.start, span.end):
            self.key_of_token[i] = key
        return group

    def named_entities(self) -> None:
        for ent in self.ents:
            inside = [m for m in self.matches if m.start < ent.end and ent.start < m.end]
            named = next((m for m in inside if not self.actors[m.id_].role), None)
            self.used.update(m.start for m in inside)  # a role word inside a name is no role of its own
            if named is not None:
                actor = self.actors[named.id_]
                self.add(
                    _Key(actor.name.casefold()),
                    actor.name,
                    ent.label_,
                    named,
                    min(ent.start_char, named.start_char),
                    actor,
                )
                for i in range(ent.start, ent.end):
                    self.key_of_token[i] = _Key(actor.name.casefold())
                continue
            kind = place_type(ent, self.place_words) if ent.label_ in PLACE_LABELS else None
            name = _base_name(entity_name(ent), kind)
            if kind and is_country(name):
                kind = None  # a country is not a province of anything
            if not is_proper_name(name):  # "", U+FFFD, "2021", "singh" in cased text
                continue
            group = self.add(_Key(name_key(name), kind), name, ent.label_, ent)
            if ent.label_ == "ORG":
                head = next((m for m in inside if m.start <= ent.root.i < m.end), inside[-1] if inside else None)
                if head is not None:
                    group.sectors[self.actors[head.id_].sector] += 1
                    country = next((c for c in map(owner_code, (t.text for t in ent)) if c), None)
                    if country:  # "Kenya Defence Forces", "Afghan National Army"
                        group.countries[country] += 1
            elif ent.label_ == "PERSON":
                self._titled(ent, group)

    def _titled(self, person: Span, group: _Group) -> None:
        """The sector and country of a person's title: `President Obama`, `Tom King, the defence
        secretary`; a title owned by a named actor gives that actor's (`Taliban spokesman X`)."""
        root = person.root
        for match in self.matches:
            adjacent = match.end == person.start
            apposed = (root.dep_ == "appos" and match.start <= root.head.i < match.end) or (
                match.root.dep_ == "appos" and person.start <= match.root.head.i < person.end
            )
            if not (adjacent or apposed) or not self.actors[match.id_].role:
                continue
            self.used.add(match.start)
            owner = self._owner(match)
            owner_actor = self._named_actor_at(owner) if owner is not None else None
            if owner_actor is not None:
                group.sectors[owner_actor.sector] += 1
                if owner_actor.country:
                    group.countries[owner_actor.country] += 1
                return
            group.sectors[self.actors[match.id_].sector] += 1
            country = owner_code(entity_name(owner)) if owner is not None else None
            if country:
                group.countries[country] += 1
            self._qualify(owner, self.actors[match.id_])
            return

    def actor_matches(self) -> None:
        """Dictionary matches outside any named entity: named actors, and roles with their owner."""
        for match in self.matches:
            if match.start in self.used or match.label_ == TITLE:
                continue
            actor = self.actors[match.id_]
            if not actor.role:
                self.add(_Key(actor.name.casefold()), actor.name, ACTOR_LABEL, match, actor=actor)
                continue
            owner = self._owner(match)
            owner_actor = self._named_actor_at(owner) if owner is not None else None
            if owner_actor is not None:  # "Taliban fighters" are the Taliban, already counted
                continue
            country = owner_code(entity_name(owner)) if owner is not None else None
            self.add(_Key(actor.name.casefold(), None, country), actor.name, ACTOR_LABEL, match, actor=actor)
            self._qualify(owner, actor)

    def _qualify(self, owner: Optional[Span], role: Actor) -> None:
        """The nationality or country a role belongs to takes its sector (`Hungarian` officials)."""
        if owner is None or not owner_code(entity_name(owner)):
            return
        key = self.key_of_token.get(owner.start)
        group = self.groups.get(key) if key else None
        if group is not None and group.actor is None:
            group.sectors[role.sector] += 1

    def _owner(self, match: Span) -> Optional[Span]:
        """The entity or named actor a role belongs to: right before it or a modifier of it
        (`Afghan troops`, `Sudan's government`), or after "of"/"from" (`president of Armenia`)."""
        units = self.owners
        before = next((u for u in units if u.end == match.start), None)
        if before is not None:
            return before
        root = match.root
        tokens = [c for c in root.children if c.dep_ in _OWNER_DEPS and c.i < match.start]
        tokens += [
            p_obj
            for prep in root.children
            if prep.dep_ == "prep" and prep.lower_ in _OWNER_PREPS
            for p_obj in prep.children
            if p_obj.dep_ == "pobj"
        ]
        for token in tokens:
            unit = next((u for u in units if u.start <= token.i < u.end), None)
            if unit is not None:
                return unit
        return None

    def _named_actor_at(self, span: Span) -> Optional[Actor]:
        key = self.key_of_token.get(span.start)
        group = self.groups.get(key) if key else None
        if group is not None and group.actor is not None and not group.actor.role:
            return group.actor
        match = next((m for m in self.matches if m.start == span.start and not self.actors[m.id_].role), None)
        return self.actors[match.id_] if match is not None else None


def place_type(span: Span, place_words: frozenset[str]) -> Optional[str]:
    """The kind of place a mention names, when the text says it: `Kandahar province`, `Kandahar
    city`, `the town of Kidal` -> province, city, town."""
    doc = span.doc
    following = doc[span.end] if span.end < len(doc) else None
    if following is not None and following.lemma_.lower() in place_words:
        return following.lemma_.lower()
    last = span[-1]
    if len(span) > 1 and last.lemma_.lower() in place_words:
        return last.lemma_.lower()  # the word is inside the span: `Kandahar Province`
    noun = place_noun_of(span, place_words)
    if noun is not None and "Plur" not in noun.morph.get("Number", []):  # not `the provinces of X`
        return noun.lemma_.lower()
    return None


def _base_name(name: str, kind: Optional[str]) -> str:
    """`Kandahar Province` -> `Kandahar` when the place word is part of the mention."""
    if kind and name.lower().endswith(" " + kind):
        return name[: -len(kind) - 1].strip()
    return name


def entities_of(
    doc: Doc,
    article_id: str,
    labels: frozenset[str],
    place_words: frozenset[str] = frozenset(),
    actors: Optional[Mapping[str, Actor]] = None,
    gazetteer: Optional[Gazetteer] = None,
) -> list[Entity]:
    """One `Entity` per entity of the doc with an accepted label, per the rules of this module."""
    document = _Document(doc, labels, place_words, actors or {})
    document.named_entities()
    document.actor_matches()
    groups = _merge_spellings(_merge_bare_places(document.groups))
    for group in groups.values():  # a country's name is a place, a nationality a NORP, whatever NER said
        if group.label in ("NORP", "ORG", "PERSON") and not group.actor and is_country(group.name):
            group.labels = Counter({"GPE": group.mentions})
        elif group.label in ("ORG", "PERSON") and not group.actor and demonym_code(group.name):
            group.labels = Counter({"NORP": group.mentions})
    places = {key: group for key, group in groups.items() if group.label in PLACE_LABELS and not group.actor}
    # Every spelling of a place is tried (the article may misspell it where it names it most).
    located = (
        gazetteer.resolve_all((name, k.kind) for k, g in places.items() for name, _ in g.names.most_common())
        if gazetteer
        else {}
    )
    most = max((g.mentions for g in groups.values()), default=1)
    length = max(len(doc.text), 1)
    entities = []
    for key, group in groups.items():
        place = _located(group, key.kind, located) if key in places else None
        entities.append(
            Entity(
                entity_id=stable_id(article_id, key.name, key.kind or "", *([key.country] if key.country else [])),
                article_id=article_id,
                name=group.name,
                label=_label(group),
                place_type=key.kind,
                sector=group.actor.sector if group.actor else _most_common(group.sectors),
                country=place.country if place else _country(key, group),
                subdivision=place.subdivision if place else None,
                latitude=place.latitude if place else None,
                longitude=place.longitude if place else None,
                geo=place.level if place else None,
                mention_count=group.mentions,
                first_offset=group.first,
                salience=round(0.5 * group.mentions / most + 0.5 * (1 - group.first / length), 3),
                variants=list(group.variants),
            )
        )
    return entities


def _country(key: _Key, group: _Group) -> Optional[str]:
    """An actor's own country, a role's owner's, a titled person's owner's, or a nationality's."""
    if group.actor is not None and group.actor.country:
        return group.actor.country
    if key.country:
        return key.country
    if group.countries:
        return _most_common(group.countries)
    return demonym_code(group.name) if group.label == "NORP" else None


def _most_common(counts: Counter[str]) -> Optional[str]:
    return counts.most_common(1)[0][0] if counts else None


def _located(group: _Group, kind: Optional[str], located: Mapping[tuple[str, Optional[str]], Place]) -> Place:
    """The first spelling of the group the gazetteer resolved, else unresolved."""
    found = [located[(name, kind)] for name, _ in group.names.most_common() if (name, kind) in located]
    return next((p for p in found if p.level != "unresolved"), found[0] if found else UNRESOLVED)


def _label(group: _Group) -> str:
    """The most frequent NER label; ACTOR only when NER never labelled the actor."""
    named = Counter({label: n for label, n in group.labels.items() if label != ACTOR_LABEL})
    return named.most_common(1)[0][0] if named else ACTOR_LABEL


def _merge_bare_places(groups: dict[_Key, _Group]) -> dict[_Key, _Group]:
    """`Kohistan` joins `Kohistan district` when the doc names only one kind of place Kohistan."""
    kinds: dict[str, list[str]] = {}
    for key in groups:
        if key.kind:
            kinds.setdefault(key.name, []).append(key.kind)
    for key in list(groups):
        bare = _Key(key.name)
        if key == bare and len(kinds.get(key.name, [])) == 1 and groups[bare].label in PLACE_LABELS:
            groups[_Key(key.name, kinds[key.name][0])].absorb(groups.pop(bare))
    return groups


def _merge_spellings(groups: dict[_Key, _Group]) -> dict[_Key, _Group]:
    """Merge the less mentioned of two groups into the other when their names are one name
    spelt two ways: same label, same kind of place and country, similar enough and long enough."""
    keys = sorted(groups, key=lambda k: (-groups[k].mentions, groups[k].first))
    labels = {key: group.label for key, group in groups.items()}
    for i, key in enumerate(keys):
        if key not in groups or len(key.name) < _MIN_SPELLING_LENGTH:
            continue
        for other in keys[i + 1 :]:
            if (
                other not in groups
                or (other.kind, other.country) != (key.kind, key.country)
                or labels[other] != labels[key]
                or len(other.name) < _MIN_SPELLING_LENGTH
            ):
                continue
            if difflib.SequenceMatcher(None, key.name, other.name).ratio() >= SPELLING_SIMILARITY:
                groups[key].absorb(groups.pop(other))
                labels[key] = groups[key].label
    return groups
