"""Sentence-level event extraction: a parsed article -> its `Event` mentions, before dates and entities.

Per sentence, every token is matched against the taxonomy's triggers (configs/taxonomy.yaml).
A match becomes a candidate when the trigger's constraints on its arguments hold and the text
asserts the action happened (see `grammar.is_factual`). Candidates of one PLOVER type in a
sentence merge into one event of the type listed first in the taxonomy ("killed when a bomb
blew up" is one bombing). Each event then gets:

- actor and target from the grammatical roles (agent, patient, or the two sides of a clash);
- location: the nearest place named in the sentence below country level; else, when the
  sentence names an unnamed place ("seized a district") or no place, the first such place of
  the previous two sentences, then the article's main place; else the nearest country named
  (a place acting as a government, "Moscow said", is no location);
- date: the date or time expression of the trigger's clause, else of the sentence, excluding
  durations and vague expressions ("several days", "recent weeks");
- casualty counts of the sentence, given to the first event whose type reports them;
- a confidence: a base for the trigger plus a bonus per argument found, less a penalty for a
  trigger in a clause that modifies a noun, which mostly recalls an earlier event ("the town
  where 24 people were killed last March") (weights in the taxonomy).

With a learned classifier (`decision.TypeDecision`), each sentence that holds a rule event, and
the lead sentence, is classified too: the classifier's probabilities and the rules' vote decide
each event's type and confidence (a probability), drop events the two find are none, and give a
lead sentence no trigger fired an event of the class they agree on ("Clashes in X leave 5
dead"), anchored on the sentence's main verb, its actor the verb's subject when that names a
party (an entity, or a word of the taxonomy's lexicons).

"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Optional

from spacy.tokens import Doc, Span, Token

from transforms.core.ids import stable_id
from transforms.core.records import Event
from transforms.entities.nlp import entity_name
from transforms.events import grammar
from transforms.events.casualties import CasualtyCounter
from transforms.events.decision import TypeDecision, Vote
from transforms.events.places import PLACE_LABELS, main_country, main_place, places
from transforms.events.taxonomy import BUILT_IN, PERSON, PLACE, EventType, Taxonomy, Trigger
from transforms.geo.countries import is_country

_DATE_LABELS = ("DATE", "TIME")
_CONTEXT_SENTENCES = 2  # how far back an event's place may be found
_PEOPLE = "people"  # a lexicon listing it takes people named by their nationality
_LEAD = 1  # sentences from the start the classifier reads even when no trigger fired
_PARTIES = ("PERSON", "ORG", "NORP", "GPE")  # entities that can be an untriggered event's actor


class _Match(NamedTuple):
    """A token matching one of an event type's triggers."""

    rank: int  # position of the event type in the taxonomy
    event_type: EventType
    trigger: Trigger
    text: str  # the trigger words as written: "pulled out", "air strikes"
    parts: tuple[Token, ...]  # other words of the trigger (the particle, the modifier)


@dataclass
class _Candidate:
    rank: int  # position of the event type in the taxonomy
    event_type: EventType
    trigger: Optional[Trigger]  # None: found by the classifier where no trigger fired
    token: Token
    trigger_text: str
    agent: Optional[Token]
    patient: Optional[Token]
    stated: Optional[Token] = None  # an intent's statement: its date is the event's


class _Arguments(NamedTuple):
    """What a candidate's words say, whatever its type: found once, used for the rules' score and the row."""

    actor: Optional[str]
    target: Optional[str]
    location: Optional[str]
    place_linked: bool  # the place is named in the trigger's own clause
    date: Optional[str]
    date_linked: bool


class _Place(NamedTuple):
    entity: Span
    name: str
    country: bool


@dataclass(frozen=True)
class _Context:
    """The places of the article, computed once: per sentence, and the article's main ones."""

    sentence_places: list[list[_Place]]  # named places per sentence, in order
    main_place: Optional[str]
    main_country: Optional[str]


def _specificity(candidate: _Candidate) -> int:
    trigger = candidate.trigger
    assert trigger is not None
    constraints = [trigger.subject, trigger.object, trigger.target, trigger.preps]
    return int(" " in candidate.trigger_text) + sum(1 for constraint in constraints if constraint)


class EventExtractor:
    """Finds events in a parsed article according to a taxonomy."""

    def __init__(self, taxonomy: Taxonomy, decision: Optional[TypeDecision] = None):
        self._taxonomy = taxonomy
        self._decision = decision
        self._verbs: dict[str, list[tuple[int, EventType, Trigger]]] = {}
        self._nouns: dict[str, list[tuple[int, EventType, Trigger]]] = {}
        self._phrasal: dict[str, list[tuple[str, int, EventType, Trigger]]] = {}
        self._compounds: dict[str, list[tuple[str, int, EventType, Trigger]]] = {}
        for rank, event_type in enumerate(taxonomy.types):
            for trigger in event_type.triggers:
                for lemma in trigger.verbs:
                    self._verbs.setdefault(lemma.lower(), []).append((rank, event_type, trigger))
                for lemma in trigger.nouns:
                    self._nouns.setdefault(lemma.lower(), []).append((rank, event_type, trigger))
                for words in trigger.phrasal:
                    head, particle = words.split()
                    self._phrasal.setdefault(head, []).append((particle, rank, event_type, trigger))
                for words in trigger.compounds:
                    modifier, head = words.split()
                    self._compounds.setdefault(head, []).append((modifier, rank, event_type, trigger))
        self._idioms: dict[str, frozenset[str]] = {}
        for idiom in taxonomy.idioms:
            verb, particle = idiom.split()
            self._idioms[verb] = self._idioms.get(verb, frozenset()) | {particle}
        self._light = frozenset(w.lower() for w in taxonomy.light_nouns)
        self._instruments = frozenset(w.lower() for w in taxonomy.instruments)
        self._support_verbs = frozenset(w.lower() for w in taxonomy.support_verbs)
        self._speech_verbs = frozenset(w.lower() for w in taxonomy.speech_verbs)
        self._obligation_trigger = taxonomy.obligations.trigger(taxonomy.speech_verbs) if taxonomy.obligations else None
        self._vague_date = re.compile("|".join(f"(?:{p})" for p in taxonomy.vague_dates), re.IGNORECASE)
        self._casualties = CasualtyCounter(taxonomy)
        self._particles = frozenset(particle for pairs in self._phrasal.values() for particle, *_ in pairs)
        self._ranked = {event_type.name: (rank, event_type) for rank, event_type in enumerate(taxonomy.types)}
        self._lexicon_words = frozenset().union(*taxonomy.words.values())

    # -- matching ---------------------------------------------------------------------------
    def _matches(self, token: Token) -> Iterator[_Match]:
        if token.pos_ in grammar.VERBAL:
            single, paired = self._verbs, self._phrasal
            part_deps: tuple[str, ...] = ("prt", "prep", "dobj", "advmod")
        elif token.pos_ in grammar.NOMINAL:
            single, paired = self._nouns, self._compounds
            part_deps = ("compound", "amod", "nmod")
        else:
            return
        forms = sorted(grammar.forms(token))
        idiom = token.pos_ in grammar.VERBAL and any(
            grammar.child(token, "prt", "prep", "advmod", lemmas=self._idioms[form])
            for form in forms
            if form in self._idioms
        )
        for form in forms:
            for rank, event_type, trigger in () if idiom else single.get(form, ()):
                yield _Match(rank, event_type, trigger, token.text, ())
            for other, rank, event_type, trigger in paired.get(form, ()):
                part = grammar.child(token, *part_deps, lemmas=(other,))
                if part is None and token.pos_ in grammar.VERBAL:
                    part = grammar.clause_marker(token, (other,)) or grammar.resultative(token, (other,))
                if part is not None:
                    first, second = sorted((token, part), key=lambda t: t.i)
                    yield _Match(rank, event_type, trigger, f"{first.text} {second.text}", (part,))

    def _belongs(self, token: Optional[Token], refs: list[str]) -> bool:
        if token is None:
            return False
        if (PLACE in refs and token.ent_type_ in PLACE_LABELS) or (PERSON in refs and token.ent_type_ == "PERSON"):
            return True
        lexicons = [self._taxonomy.words[ref] for ref in refs if ref not in BUILT_IN]
        if token.ent_type_ == "NORP" and token.tag_ in ("NNS", "NNPS") and any(_PEOPLE in words for words in lexicons):
            return True  # "killed five Nigerians": a nationality in the plural names people
        words = grammar.head_words(token)
        return any(words & lexicon for lexicon in lexicons)

    def _argument(self, token: Optional[Token]) -> Optional[Token]:
        """The word naming an agent or patient: past quantities and light nouns ("25,000 tons of
        food aid", "members of the forces"), a reported speaker's pronoun resolved to the speaker."""
        if token is not None and not grammar.is_argument(token):
            token = grammar.prep_object(token, ("of",)) if token.ent_type_ in grammar.QUANTITIES else None
        if token is None:
            return None
        token = grammar.reported_speaker(token, self._speech_verbs) or token
        return grammar.descend(token, self._light)

    def _candidate(self, token: Token, match: _Match) -> Optional[_Candidate]:
        trigger, parts = match.trigger, match.parts
        if trigger.preps and not any(
            grammar.child(word, "prep", "prt", "agent", lemmas=trigger.preps) for word in (token, *parts)
        ):
            return None
        if trigger.patient_is_subject:
            agent = grammar.prep_object(token, (trigger.agent_prep,)) if trigger.agent_prep else None
        else:
            agent = grammar.agent(token, self._support_verbs)
        patient = grammar.patient(token, parts, subject=trigger.patient_is_subject)
        agent = self._argument(agent)
        patient = self._argument(patient)
        if trigger.subject and not self._belongs(agent, trigger.subject):
            return None  # tested before instruments are set aside: "a roadside bomb hit the convoy"
        if agent is not None and grammar.head_words(agent) & self._instruments:
            agent = None  # "a bomb blew up": the bomb is not the actor
        required = trigger.object + trigger.target
        if required and not self._belongs(patient, required):
            return None
        if trigger.exclude and self._belongs(patient, trigger.exclude):
            return None  # "fired rubber bullets at protesters" is no shooting
        if patient is None and match.event_type.plover.type == "ASSAULT" and not trigger.object:
            agent, patient = grammar.other_party(token, agent)  # "A and B clashed", "fighting between"
        if grammar.is_factual(token, self._taxonomy.modality):
            return _Candidate(match.rank, match.event_type, trigger, token, match.text, agent, patient)
        intentions = self._taxonomy.intentions
        intent = grammar.stated_intent(token, self._taxonomy.modality, intentions) if intentions and agent else None
        if intentions is None or intent is None:
            return None
        # An intent to cooperate or a threat, by the CAMEO root of the act; none to speak
        # ("will reject": verbal conflict); a refusal to cooperate, none not to harm ("will not attack").
        root = int(match.event_type.cameo_root)
        if intent.refused:
            if intentions.refusal is None or root > 8:
                return None
            rank, event_type = self._ranked[intentions.refusal]
        elif not intent.threat and 9 <= root <= 13:
            return None
        else:
            hostile = intent.threat or root >= 14
            rank, event_type = self._ranked[intentions.hostile if hostile else intentions.cooperative]
        return _Candidate(rank, event_type, trigger, token, match.text, agent, patient, intent.statement)

    def _candidates(self, sentence: Span) -> list[_Candidate]:
        """A word expresses one event: of the triggers that fit it, the most specific (a
        compound or phrasal trigger over a single word, one whose argument constraints held over
        one without), then the first listed."""
        found = []
        for token in sentence:
            fitting = [c for c in (self._candidate(token, m) for m in self._matches(token)) if c is not None]
            if fitting:
                found.append(min(fitting, key=lambda c: (-_specificity(c), c.rank)))
            obligation = self._obligation(token)
            if obligation is not None:
                found.append(obligation)
        return found

    def _obligation(self, token: Token) -> Optional[_Candidate]:
        """A reported obligation ("said Sudan must return the helicopter", "insisted that the army
        withdraw") as a candidate of the taxonomy's obligation type: the speech verb its trigger,
        the speaker its actor, the one who must act its target."""
        obligations = self._taxonomy.obligations
        if (
            obligations is None
            or self._obligation_trigger is None
            or token.pos_ not in grammar.VERBAL
            or token.dep_ != "ccomp"
        ):
            return None
        speech = token.head
        modal = next((c for c in token.children if c.dep_ == "aux" and c.lower_ in obligations.modal_verbs), None)
        if (
            speech.lemma_.lower() not in self._speech_verbs
            or grammar.is_perfect(token)
            or (modal is None and not grammar.is_subjunctive(token))
        ):
            return None  # "must have known" infers, it does not oblige
        speaker = self._argument(grammar.agent(speech, self._support_verbs))
        if speaker is None or not grammar.is_factual(speech, self._taxonomy.modality):
            return None
        obliged = grammar.agent(token, self._support_verbs)
        if obliged is not None and obliged.pos_ == "PRON":
            return None  # "he said he must leave": most likely the speaker's own obligation
        rank, event_type = self._ranked[obligations.type]
        start = modal.i if modal is not None else token.i
        return _Candidate(
            rank,
            event_type,
            self._obligation_trigger,
            speech,
            f"{speech.text} ... {token.doc[start : token.i + 1].text}",
            speaker,
            self._argument(obliged),
        )

    @staticmethod
    def _merge(candidates: list[_Candidate]) -> list[_Candidate]:
        """One event per PLOVER type per sentence: the first-listed type, with arguments the
        others found where it has none."""
        by_type: dict[str, list[_Candidate]] = {}
        for candidate in candidates:
            by_type.setdefault(candidate.event_type.plover.type, []).append(candidate)
        merged = []
        for group in by_type.values():
            group.sort(key=lambda c: (c.rank, c.agent is None, c.patient is None, c.token.i))
            best = group[0]
            best.agent = best.agent or next((c.agent for c in group if c.agent is not None), None)
            best.patient = best.patient or next((c.patient for c in group if c.patient is not None), None)
            merged.append(best)
        return sorted(merged, key=lambda c: c.rank)

    # -- arguments ---------------------------------------------------------------------------
    def _location(self, index: int, candidate: _Candidate, context: _Context) -> tuple[Optional[str], bool]:
        """(place, whether it is named in the trigger's own clause)."""
        trigger, patient = candidate.token, candidate.patient
        if patient is not None and patient.ent_type_ in PLACE_LABELS:  # "the seizure of Kohistan"
            place = grammar.entity_of(patient)
            name = entity_name(place) if place is not None else ""
            if name:
                return name, True
        named = context.sentence_places[index]
        specific = [place for place in named if not place.country]
        if specific:
            nearest = min(specific, key=lambda place: grammar.tree_distance(place.entity.root, trigger))
            return nearest.name, grammar.linked(nearest.entity.root, trigger)
        # "seized a district in northern Afghanistan": the place is the district, named elsewhere
        unnamed_place = (
            candidate.trigger is not None
            and PLACE in candidate.trigger.object
            and patient is not None
            and patient.ent_type_ not in PLACE_LABELS
        )
        if named and not unnamed_place:
            nearest = min(named, key=lambda place: grammar.tree_distance(place.entity.root, trigger))
            return nearest.name, grammar.linked(nearest.entity.root, trigger)
        for previous in range(index - 1, max(-1, index - 1 - _CONTEXT_SENTENCES), -1):
            earlier = [place.name for place in context.sentence_places[previous] if not place.country]
            if earlier:
                return earlier[0], False
        if context.main_place:
            return context.main_place, False
        return (named[0].name if named else context.main_country), False

    def _date(self, sentence: Span, trigger: Token) -> tuple[Optional[str], bool]:
        """(date expression, whether it is in the trigger's own clause)."""
        expressions: list[Span] = []
        for ent in sentence.ents:
            if ent.label_ not in _DATE_LABELS:
                continue
            if expressions and expressions[-1].end == ent.start:  # "Thursday" + "night"
                expressions[-1] = sentence.doc[expressions[-1].start : ent.end]
            else:
                expressions.append(ent)
        dated = [e for e in expressions if not self._vague_date.fullmatch(e.text.strip())]
        own = [e for e in dated if grammar.linked(e.root, trigger)]
        if own:
            return min(own, key=lambda e: grammar.tree_distance(e.root, trigger)).text, True
        free = [e for e in dated if not grammar.in_modifier_clause(e.root)]
        return (free[0].text, False) if free else (None, False)

    # -- events ------------------------------------------------------------------------------
    def extract(self, doc: Doc, article_id: str) -> list[Event]:
        """All events of the article, with their confidence (no threshold applied)."""
        sentences = list(doc.sents)
        context = _Context(
            sentence_places=[
                [_Place(e, n, is_country(n)) for e, n in ((e, entity_name(e)) for e in places(s)) if n]
                for s in sentences
            ],
            main_place=main_place(doc),
            main_country=main_country(doc),
        )
        found = [
            [(c, self._arguments(i, sentence, c, context)) for c in self._merge(self._candidates(sentence))]
            for i, sentence in enumerate(sentences)
        ]
        counts = [self._casualties.count(s) if found[i] or i < _LEAD else {} for i, s in enumerate(sentences)]
        rules = [
            [self._event(article_id, i, sentences[i], c, a, dict(counts[i])) for c, a in found[i]]
            for i in range(len(sentences))
        ]
        if self._decision is None:
            return [event for events in rules for event in events]
        events: list[Event] = []
        for index, decided in self._decide(sentences, found, rules, context):
            remaining = dict(counts[index])
            events.extend(
                self._event(article_id, index, sentences[index], c, a, remaining, confidence)
                for c, a, confidence in decided
            )
        return events

    def _decide(
        self,
        sentences: list[Span],
        found: list[list[tuple[_Candidate, _Arguments]]],
        rules: list[list[Event]],
        context: _Context,
    ) -> Iterator[tuple[int, list[tuple[_Candidate, _Arguments, Optional[float]]]]]:
        """Per sentence the classifier reads: its candidates, retyped, with their confidence (None:
        the rules' own), and the event the classifier found where no trigger fired."""
        assert self._decision is not None
        read = [i for i, candidates in enumerate(found) if candidates or i < _LEAD]
        types, none = self._decision.probabilities([sentences[i].text for i in read])
        for row, index in enumerate(read):
            ranked = sorted(zip(found[index], rules[index]), key=lambda pair: -pair[1].confidence)
            candidates: list[Optional[tuple[_Candidate, _Arguments]]] = [c for c, _ in ranked] or [None]
            votes: list[Optional[Vote]] = [Vote(e.event_type, e.confidence) for _, e in ranked] or [None]
            decided = []
            for found_here, decision in zip(candidates, self._decision.decide(types[row], float(none[row]), votes)):
                if decision is None:
                    continue
                rank, event_type = self._ranked[decision.event_type]
                if found_here is None:
                    candidate = self._untriggered(sentences[index], rank, event_type)
                    arguments = self._arguments(index, sentences[index], candidate, context)
                else:
                    candidate, arguments = found_here
                    candidate.rank, candidate.event_type = rank, event_type
                decided.append((candidate, arguments, decision.confidence))
            yield index, decided

    def _untriggered(self, sentence: Span, rank: int, event_type: EventType) -> _Candidate:
        """An event the classifier found where no trigger fired, anchored on the main verb."""
        root = sentence.root
        agent = patient = None
        if root.pos_ in grammar.VERBAL:
            agent = self._party(self._argument(grammar.agent(root, self._support_verbs)))
            patient = self._party(self._argument(grammar.patient(root)))
        return _Candidate(rank, event_type, None, root, root.text, agent, patient)

    def _party(self, token: Optional[Token]) -> Optional[Token]:
        """The token when it names a party: an entity, or a word of the taxonomy's lexicons
        ("Clashes in X leave 5 dead": the clashes are no actor)."""
        if token is not None and (token.ent_type_ in _PARTIES or grammar.head_words(token) & self._lexicon_words):
            return token
        return None

    def _arguments(self, index: int, sentence: Span, candidate: _Candidate, context: _Context) -> _Arguments:
        trigger = candidate.token
        location, place_linked = self._location(index, candidate, context)
        date, date_linked = self._date(sentence, candidate.stated or trigger)
        completes = grammar.resultative(trigger, self._particles)  # "shot [dead] two policemen": not the men's
        actor, target = (
            grammar.phrase(candidate.agent),
            grammar.phrase(candidate.patient, (completes,) if completes else ()),
        )
        return _Arguments(actor, target, location, place_linked, date, date_linked)

    def _event(
        self,
        article_id: str,
        index: int,
        sentence: Span,
        candidate: _Candidate,
        arguments: _Arguments,
        counts: dict[str, int],
        confidence: Optional[float] = None,
    ) -> Event:
        """The row for one candidate; it takes the sentence's casualty counts its type reports.
        Its confidence is the classifier's, else the rules' score."""
        trigger, event_type, weights = candidate.token, candidate.event_type, self._taxonomy.confidence
        reported = {kind: counts.pop(kind) for kind in event_type.counts if kind in counts}
        score = confidence
        if score is None:
            assert candidate.trigger is not None
            score = candidate.trigger.confidence
            if score is None:
                score = weights.verb if trigger.pos_ in grammar.VERBAL else weights.noun
            score += (weights.actor if arguments.actor else 0) + (weights.target if arguments.target else 0)
            score += (weights.place if arguments.place_linked else 0) + (weights.date if arguments.date_linked else 0)
            score += weights.casualties if reported else 0
            score -= weights.background if grammar.is_background(trigger) else 0
        acled = event_type.acled
        return Event(
            event_id=stable_id(article_id, index, event_type.name),
            article_id=article_id,
            sentence_index=index,
            sentence=sentence.text.strip(),
            event_type=event_type.name,
            plover_type=event_type.plover.type,
            plover_mode=event_type.plover.mode,
            cameo_root=event_type.cameo_root,
            acled_event_type=acled.event_type if acled else None,
            acled_sub_event_type=acled.sub_event_type if acled else None,
            trigger=candidate.trigger_text,
            actor=arguments.actor,
            target=arguments.target,
            location=arguments.location,
            date_text=arguments.date,
            fatalities=reported.get("fatalities"),
            injured=reported.get("injured"),
            arrested=reported.get("arrested"),
            confidence=round(min(score, 1.0), 2),
        )
