"""Reading who did what to whom off spaCy's dependency parse (ClearNLP labels, as in the English
models). Pure functions over tokens; the word lists come from the taxonomy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Optional

from spacy.tokens import Span, Token

from transforms.entities.nlp import entity_name
from transforms.events.taxonomy import Intentions, Modality

VERBAL = ("VERB", "AUX")
NOMINAL = ("NOUN", "PROPN")
# Relations through which a clause inherits the modality of the clause above it.
_CLIMB = frozenset({"xcomp", "ccomp", "advcl", "conj", "pcomp"})
# Prepositions introducing the party an action is directed at: fired *on* civilians.
_TARGET_PREPS = frozenset({"on", "at", "against", "upon"})
_NOUN_ARGUMENT_PREPS = frozenset({"of", "on", "against", "at"})
# Prepositions by which a verb's doer takes part in a noun event: arrived *on* a visit, killed *in* an attack.
_EVENT_PREPS = frozenset({"on", "in", "for", "during"})
# Nouns that frame the event their compound names: a mediation *effort*, a rescue *mission*.
_FRAME_NOUNS = frozenset({"effort", "mission", "operation", "campaign", "initiative", "process"})
# Dependents left out of an argument's phrase: clauses, appositions, coordination, numbers.
_PHRASE_SKIP = frozenset(
    {"relcl", "acl", "advcl", "appos", "punct", "cc", "conj", "det", "nummod", "quantmod", "predet", "parataxis"}
)
_RELATIVE = frozenset({"that", "who", "which", "whom"})
# Nouns of time: "crossed over at 6:30pm local *time*", "fired on *Sunday*" are not targets.
_TIME_NOUNS = frozenset(
    {
        "time",
        "hour",
        "day",
        "night",
        "morning",
        "afternoon",
        "evening",
        "week",
        "month",
        "year",
        "moment",
        "dawn",
        "dusk",
        "midnight",
        "noon",
        "weekend",
    }
)
# Amounts of something: "25,000 tons of food", "700 kg of medicine"; the argument is what follows "of".
QUANTITIES = frozenset({"CARDINAL", "QUANTITY", "MONEY"})
_NOT_ARGUMENTS = frozenset({"DATE", "TIME", "ORDINAL", "PERCENT"}) | QUANTITIES


def forms(token: Token) -> set[str]:
    """Lower-case forms to look a word up by: its lemma, its text, and for -ed/-ing words the
    other stem, since the small models' lemmatizer sometimes picks the wrong one ("staged" ->
    "stag")."""
    lower = token.lower_
    found = {token.lemma_.lower(), lower}
    if lower.endswith("ed") and len(lower) > 4:
        found.update((lower[:-1], lower[:-2]))
    elif lower.endswith("ing") and len(lower) > 5:
        found.update((lower[:-3], lower[:-3] + "e"))
    return found


def child(token: Token, *deps: str, lemmas: Optional[Iterable[str]] = None) -> Optional[Token]:
    """The first child with one of `deps` (and, if given, one of `lemmas`)."""
    wanted = frozenset(lemmas) if lemmas is not None else None
    for c in token.children:
        if c.dep_ in deps and (wanted is None or c.lower_ in wanted or c.lemma_.lower() in wanted):
            return c
    return None


def clause_marker(token: Token, lemmas: Iterable[str]) -> Optional[Token]:
    """The marker of a clause `token` governs, when it completes a phrasal verb: "called [for]
    troops to withdraw" (spaCy attaches "for" to "withdraw")."""
    for clause in token.children:
        if clause.dep_ in ("advcl", "ccomp", "xcomp") and clause.i > token.i:
            found = child(clause, "mark", lemmas=lemmas)
            if found is not None:
                return found
    return None


def resultative(token: Token, lemmas: Iterable[str]) -> Optional[Token]:
    """The adjective right after a verb that completes it (one of `lemmas`), wherever the parser
    attached it: "shot [dead] three men" (to the object, or to the verb)."""
    if token.pos_ not in VERBAL or token.i + 1 >= len(token.doc):
        return None
    after = token.doc[token.i + 1]
    if (
        after.pos_ == "ADJ"
        and after.lemma_.lower() in lemmas
        and (after.head.i == token.i or (after.head.head.i == token.i and after.head.dep_ == "dobj"))
    ):
        return after
    return None


def is_passive(token: Token) -> bool:
    if any(c.dep_ in ("auxpass", "nsubjpass") for c in token.children):
        return True
    # "posts abandoned to the militants", "14 wounded": a bare past participle; with a direct
    # object it is active ("strikes killed 20 people", parsed as a reduced relative)
    return (
        token.tag_ == "VBN"
        and token.dep_ in ("acl", "conj")
        and child(token, "aux") is None
        and child(token, "dobj") is None
    )


def _resolve_relative(token: Token) -> Token:
    """`that`/`who` as the subject of a relative clause stands for the noun the clause modifies."""
    if token.lower_ in _RELATIVE and token.head.dep_ == "relcl":
        return token.head.head
    return token


def is_argument(token: Token) -> bool:
    """False for times, dates and quantities, which are never an actor or a target."""
    return token.ent_type_ not in _NOT_ARGUMENTS and token.lemma_.lower() not in _TIME_NOUNS


def prep_object(token: Token, preps: Iterable[str]) -> Optional[Token]:
    """The object of a preposition `token` governs: fired [on] -> citizens; the verb of a pcomp."""
    prep = child(token, "prep", "agent", "dative", lemmas=preps)
    if prep is None:
        return None
    obj = child(prep, "pobj")
    if obj is not None:
        return obj if is_argument(obj) else None
    clause = child(prep, "pcomp")  # "fired on fleeing citizens": the object of the clause
    if clause is not None:
        return child(clause, "dobj") or clause
    return None


def agent(token: Token, support_verbs: frozenset[str] = frozenset()) -> Optional[Token]:
    """The doer of the action `token` expresses, when the parse says who it is. For a noun,
    `support_verbs` are verbs whose subject does what the noun names ("staged rallies")."""
    if token.pos_ == "ADJ" and token.dep_ == "acomp":
        return agent(token.head, support_verbs)  # "Syria is willing to withdraw": the subject of "is"
    if token.pos_ in VERBAL:
        if is_passive(token):
            return prep_object(token, ("by",))
        subject = child(token, "nsubj", "csubj")
        if subject is not None:
            return _resolve_relative(subject)
        if token.dep_ == "acl" and (token.tag_ == "VBG" or child(token, "dobj") is not None):
            return token.head  # "the forces retreating from ...", "strikes killed 20 people"
        if token.dep_ in ("conj", "xcomp") and token.head.i != token.i:  # shared subject
            shared = child(token.head, "nsubjpass") if is_passive(token.head) else None
            # "was indicted and will resign": the one indicted resigns, not the court
            return _resolve_relative(shared) if shared is not None else agent(token.head, support_verbs)
        return None
    owner = child(token, "poss")  # "the Taliban's seizure"; "their withdrawal": see the verb below
    if owner is not None and owner.pos_ != "PRON":
        return owner
    by = prep_object(token, ("by",))  # "an attack by gunmen"
    if by is not None:
        return by
    for modifier in token.children:  # "a Taliban attack", "Israeli strikes"
        if modifier.dep_ in ("compound", "amod") and modifier.ent_type_ in ("ORG", "NORP", "GPE"):
            return modifier
    framed = token.dep_ == "compound" and token.head.lemma_.lower() in _FRAME_NOUNS
    noun = token.head if framed else token  # "launched a mediation effort": the effort's doer
    verb = noun.head
    if noun.dep_ == "dobj" and forms(verb) & support_verbs and not is_passive(verb):
        return agent(verb)  # "activists staged rallies", "militants carried out an attack"
    prep = noun.head
    if (
        noun.dep_ == "pobj"
        and prep.lower_ in _EVENT_PREPS
        and prep.head.pos_ in VERBAL
        and not is_passive(prep.head)
        and (prep.lower_ != "in" or child(noun, "det") is not None)
    ):
        return agent(prep.head)  # "arrived on a visit", "wounded two soldiers in a bomb attack"; not "in protest"
    return None


# Subject pronouns and the speakers they can stand for: "it" a body or a place, "he"/"she" a
# person, "they" a group or several.
_GROUP_ENTITIES = frozenset({"ORG", "NORP", "GPE"})


def _can_be(pronoun: str, speaker: Token) -> bool:
    person = speaker.ent_type_ == "PERSON"
    if pronoun == "it":
        return not person and (speaker.ent_type_ in _GROUP_ENTITIES or speaker.tag_ in ("NN", "NNP"))
    if pronoun in ("he", "she"):
        return person or (speaker.tag_ == "NN" and not speaker.ent_type_)
    if pronoun == "they":
        return not person and (speaker.ent_type_ in _GROUP_ENTITIES or speaker.tag_ in ("NNS", "NNPS"))
    return False


def reported_speaker(token: Token, speech_verbs: frozenset[str]) -> Optional[Token]:
    """Who a subject pronoun stands for when its clause reports that one's words: "Syria says
    [it] is willing to withdraw", "the rebels said [they] would release him" -> Syria, the
    rebels. None unless the speaker is named in the reporting clause and fits the pronoun."""
    if token.pos_ != "PRON" or token.dep_ not in ("nsubj", "nsubjpass"):
        return None
    clause = token.head
    while clause.dep_ == "conj" and clause.head.i != clause.i:
        clause = clause.head
    if clause.dep_ != "ccomp" or not forms(clause.head) & speech_verbs:
        return None
    speaker = agent(clause.head)
    if speaker is None or speaker.pos_ == "PRON" or not _can_be(token.lower_, speaker):
        return None
    return speaker


def patient(token: Token, parts: Iterable[Token] = (), subject: bool = False) -> Optional[Token]:
    """What the action is done to. `parts` are other words of the trigger (the `fire` of "open
    fire"); `subject` reads the subject as the patient (unaccusatives: "the district fell")."""
    part_ids = {p.i for p in parts}
    if subject:
        found = child(token, "nsubj", "nsubjpass")
        if found is None and token.dep_ in ("acl", "relcl"):
            found = token.head
        return _resolve_relative(found) if found is not None else None
    if token.pos_ in VERBAL:
        if is_passive(token):
            found = child(token, "nsubjpass", "nsubj")
            if found is None and token.dep_ == "acl":  # "posts abandoned to the militants"
                found = token.head
            if found is not None:
                return _resolve_relative(found)
        direct = child(token, "dobj")
        if direct is not None and direct.i not in part_ids:
            return direct
        for word in (token, *parts):
            found = prep_object(word, _TARGET_PREPS)
            if found is not None:
                return found
        return None
    return prep_object(token, _NOUN_ARGUMENT_PREPS)


def other_party(token: Token, first: Optional[Token]) -> tuple[Optional[Token], Optional[Token]]:
    """The two sides of a symmetric action: "A and B clashed", "A clashed with B", "fighting
    between A and B" (the phrase may hang off the verb of a noun trigger). Returns both sides."""
    if first is not None:
        second = child(first, "conj")
        if second is not None:
            return first, second
    second = prep_object(token, ("with", "against"))
    if second is not None:
        return first, second
    words = (token, token.head) if token.pos_ in NOMINAL and token.head.pos_ in VERBAL else (token,)
    for word in words:
        between = prep_object(word, ("between",))
        if between is not None:
            return between, child(between, "conj")
    return first, None


def descend(token: Token, light_nouns: frozenset[str]) -> Token:
    """Past words that only quantify: "members of the forces" -> forces, "control of X" -> X;
    not past names ("Islamic State of Iraq")."""
    seen = 0
    while token.lemma_.lower() in light_nouns and token.pos_ != "PROPN" and seen < 4:
        inner = prep_object(token, ("of",))
        if inner is None:
            break
        token, seen = inner, seen + 1
    return token


def entity_of(token: Token) -> Optional[Span]:
    """The named entity `token` belongs to, if any."""
    if not token.ent_type_:
        return None
    for ent in token.doc.ents:
        if ent.start <= token.i < ent.end:
            return ent
    return None


def phrase(token: Optional[Token], skip: tuple[Token, ...] = ()) -> Optional[str]:
    """Readable text for an argument: its named entity, or its noun phrase without determiners,
    numbers, clauses, appositions and the words of `skip` ("over 300 Afghan military personnel"
    -> "Afghan military personnel"; "shot dead two policemen", skipping "dead"). None for
    pronouns."""
    if token is None or token.pos_ == "PRON" or token.lower_ in _RELATIVE:
        return None
    entity = entity_of(token)
    if entity is not None and entity.label_ not in _NOT_ARGUMENTS:
        return entity_name(entity) or None
    kept: list[Token] = []

    def walk(word: Token) -> None:
        kept.append(word)
        for c in word.children:
            if c.dep_ in _PHRASE_SKIP or (c.dep_ == "prep" and c.lower_ != "of") or c in skip:
                continue
            walk(c)

    walk(token)
    kept.sort(key=lambda t: t.i)
    while kept and kept[-1].is_punct:
        kept.pop()
    return " ".join("".join(t.text_with_ws for t in kept).split()) or None


def head_words(token: Token) -> set[str]:
    """The `forms` of a token and of its compound/amod modifiers, for lexicon tests."""
    words = forms(token)
    for c in token.children:
        if c.dep_ in ("compound", "amod"):
            words |= forms(c)
    return words


def tree_distance(a: Token, b: Token) -> int:
    """Number of dependency arcs between two tokens of one sentence."""
    depth = {t.i: d for d, t in enumerate((a, *a.ancestors))}
    for d, t in enumerate((b, *b.ancestors)):
        if t.i in depth:
            return d + depth[t.i]
    return len(a.doc)


def linked(token: Token, trigger: Token) -> bool:
    """True when `token` belongs to the trigger's clause (not to a clause below or beside it)."""
    return clause_head(token).i == clause_head(trigger).i


def clause_head(token: Token) -> Token:
    """The verb of the clause `token` is in (the token itself for a verb)."""
    while token.pos_ not in VERBAL and token.head.i != token.i:
        token = token.head
    return token


def in_modifier_clause(token: Token) -> bool:
    """True when `token` sits in a relative or participle clause modifying a noun."""
    return any(a.dep_ in ("relcl", "acl") and a.pos_ in VERBAL for a in token.ancestors)


def is_background(token: Token) -> bool:
    """True when the action of `token` is told in a relative clause or inside a clause modifying
    a noun, which mostly recalls an earlier event: "Belgrade, where police killed two protesters"."""
    return (token.dep_ == "relcl" and token.pos_ in VERBAL) or in_modifier_clause(token)


def _local_cues(token: Token, modality: Modality, neg: bool = True) -> bool:
    """True when `token` itself carries a negation, modal, conditional or generic cue."""
    for c in token.children:
        word = c.lower_
        lemma = c.lemma_.lower()
        if neg and c.dep_ == "neg":
            return True
        if c.dep_ == "aux" and (word in modality.modal_verbs or lemma in modality.modal_verbs):
            return True
        if c.dep_ == "mark" and word in modality.conditional_markers:
            return True
        if c.dep_ == "advmod" and word in modality.generic_adverbs:
            return True
        if c.dep_ in ("amod", "compound") and word in modality.non_factual_modifiers:
            return True
        if c.dep_ == "det" and word == "no":
            return True
    return False


def _infinitive(token: Token) -> bool:
    return any(c.dep_ == "aux" and c.tag_ == "TO" for c in token.children)


def is_perfect(token: Token) -> bool:
    return any(c.dep_ == "aux" and c.lemma_ == "have" for c in token.children)


class Intent(NamedTuple):
    statement: Token  # the clause that states it: "announced" in "announced that troops would withdraw"
    threat: bool  # a threat whatever the act: "threatened to withdraw"
    refused: bool = False  # the actor says it will not do it: "will not accept more refugees"


def _modal(word: Token) -> str:
    """A modal as written, with the contracted negative forms spelt out: "wo(n't)" -> will."""
    return {"wo": "will", "ca": "can", "sha": "shall"}.get(word.lower_, word.lower_)


def stated_intent(token: Token, modality: Modality, intentions: Intentions) -> Optional[Intent]:
    """The intent stated in the verb `token`, if it is an act its actor says it will (or will
    not) do: under a modal of intent ("will release", "said they would boycott", "will not
    accept") or an infinitive under a word of intent ("is willing to send", "plans to impose"),
    not passive, and the statement itself asserted (not feared or hypothetical)."""
    if token.pos_ not in VERBAL or any(c.dep_ == "auxpass" for c in token.children):
        return None
    negated = any(c.dep_ == "neg" for c in token.children)
    modals = {_modal(c) for c in token.children if c.dep_ == "aux" and _modal(c) in modality.modal_verbs}
    if modals:
        if not modals <= set(intentions.modal_verbs):
            return None  # "may release": possible, not intended
        anchor = token
    elif negated:
        return None
    elif _infinitive(token) and token.dep_ == "xcomp" and token.head.lemma_.lower() in intentions.governors:
        anchor = token.head
        if _local_cues(anchor, modality) and not {c.lower_ for c in anchor.children if c.dep_ == "aux"} & set(
            intentions.modal_verbs
        ):
            return None  # "is not willing to", "may plan to"
    else:
        return None
    if any(c.dep_ == "mark" and c.lower_ in modality.conditional_markers for c in anchor.children):
        return None
    statement = _asserted_above(anchor, modality)
    if statement is None:
        return None
    # "will withdraw its force unless a ceasefire is arranged": an act held over another's head
    ultimatum = any(
        child(clause, "mark", lemmas=("unless",))
        for word in (token, anchor)
        for clause in word.children
        if clause.dep_ == "advcl"
    )
    return Intent(statement, ultimatum or anchor.lemma_.lower() in intentions.hostile_governors, negated)


def _asserted_above(token: Token, modality: Modality) -> Optional[Token]:
    """The clause at the top of those governing `token`, if they assert it (no fear, denial,
    modal or negation over it)."""
    current = token
    while current.dep_ in _CLIMB and current.head.i != current.i:
        governor = current.head.head if current.dep_ == "pcomp" and current.head.pos_ == "ADP" else current.head
        if current.dep_ != "conj" and (
            governor.lemma_.lower() in modality.non_factual_governors or _local_cues(governor, modality)
        ):
            return None
        current = governor
    return current


def is_subjunctive(token: Token) -> bool:
    """A reported clause in the mandative subjunctive: "insisted that the army [withdraw]" (a
    base-form verb with a subject of its own and no auxiliary) asks for the act, not reports it."""
    return (
        token.tag_ == "VB"
        and token.dep_ == "ccomp"
        and child(token, "nsubj") is not None
        and child(token, "aux", "auxpass") is None
    )


def is_factual(token: Token, modality: Modality) -> bool:
    """False when the text does not assert that the action of `token` happened: negated ("did
    not attack"), modal ("may topple"), subjunctive ("demanded that troops withdraw"), attributive
    ("the besieged town"), conditional, habitual ("regularly clashed"), an
    infinitive under a non-factive verb ("prepare to leave"), or under a verb or noun of fear,
    plan, denial or threat ("fear of attacks", "plans to withdraw", "denied that")."""
    if _local_cues(token, modality) or is_subjunctive(token):
        return False
    if token.pos_ in VERBAL and token.dep_ == "amod":
        return False  # an attributive participle describes a state: "the besieged town", "the banned group"
    if token.pos_ in NOMINAL:
        governor = token.head.head if token.head.pos_ == "ADP" else token.head
        if governor.i == token.i or governor.pos_ not in VERBAL:
            return governor.i == token.i or governor.lemma_.lower() not in modality.non_factual_nouns
        lemma = governor.lemma_.lower()
        if (lemma in modality.non_factual_governors and lemma not in modality.enacting_verbs) or _local_cues(
            governor, modality
        ):
            return False
        token = governor  # a noun trigger is as factual as the verb it is an argument of
    if token.dep_ in ("acl", "relcl") and _infinitive(token) and not is_perfect(token):
        return False  # "a campaign to capture", but "the fifth district to have fallen"
    current = token
    while current.dep_ in _CLIMB and current.head.i != current.i:
        relation = current.dep_
        governor = current.head
        if relation == "pcomp" and governor.pos_ == "ADP":
            governor = governor.head
            if governor.pos_ in NOMINAL and governor.dep_ == "dobj":
                governor = governor.head  # "accused the forces [of] withdrawing": the verb decides
        lemma = governor.lemma_.lower()
        if relation != "conj":  # coordinated clauses share modals, not negation or governors
            if lemma in modality.non_factual_governors:
                return False
            if _infinitive(current) and relation != "pcomp" and lemma not in modality.factive_governors:
                return False
        if _local_cues(governor, modality, neg=relation != "conj"):
            return False
        current = governor
    return True
