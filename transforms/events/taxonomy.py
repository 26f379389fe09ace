"""The event taxonomy (configs/taxonomy.yaml): event types, their triggers and their mappings.

Everything the event stage knows about words lives in that file: trigger lemmas per event type,
word lists (lexicons) the triggers' arguments must belong to, the cues that make a statement
non-factual, casualty words, and the weights of the confidence score. Adding an event type or a
trigger is a data change. The file is validated when it loads: PLOVER types, CAMEO roots and
ACLED types must be real, and every lexicon a trigger names must exist.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from transforms.core.settings import BUILTIN, ConfigError, builtin_file, read_yaml

PLOVER_TYPES = (
    "AGREE", "CONSULT", "SUPPORT", "CONCEDE", "COOPERATE", "AID", "RETREAT", "REQUEST",
    "ACCUSE", "REJECT", "THREATEN", "PROTEST", "SANCTION", "MOBILIZE", "COERCE", "ASSAULT",
)  # fmt: skip

ACLED_TYPES: dict[str, tuple[str, ...]] = {
    "Battles": ("Armed clash", "Government regains territory", "Non-state actor overtakes territory"),
    "Explosions/Remote violence": (
        "Chemical weapon", "Air/drone strike", "Suicide bomb", "Shelling/artillery/missile attack",
        "Remote explosive/landmine/IED", "Grenade",
    ),
    "Violence against civilians": ("Sexual violence", "Attack", "Abduction/forced disappearance"),
    "Protests": ("Peaceful protest", "Protest with intervention", "Excessive force against protesters"),
    "Riots": ("Violent demonstration", "Mob violence"),
    "Strategic developments": (
        "Agreement", "Arrests", "Change to group/activity", "Disrupted weapons use",
        "Headquarters or base established", "Looting/property destruction",
        "Non-violent transfer of territory", "Other",
    ),
}  # fmt: skip

# A lexicon reference may also name these built-in word classes.
PLACE = "@place"  # a place entity (GPE, LOC, FAC)
PERSON = "@person"  # a person's name (PERSON)
BUILT_IN = (PLACE, PERSON)
CasualtyKind = Literal["fatalities", "injured", "arrested"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Plover(_Model):
    type: Literal[PLOVER_TYPES]  # type: ignore[valid-type]
    mode: Optional[str] = None


class Acled(_Model):
    event_type: str
    sub_event_type: Optional[str] = None

    @model_validator(mode="after")
    def _known(self) -> Acled:
        if self.event_type not in ACLED_TYPES:
            raise ValueError(f"unknown ACLED event type {self.event_type!r}; known: {', '.join(ACLED_TYPES)}")
        subs = ACLED_TYPES[self.event_type]
        if self.sub_event_type is not None and self.sub_event_type not in subs:
            raise ValueError(f"{self.sub_event_type!r} is not an ACLED sub-event type of {self.event_type!r}")
        return self


class Trigger(_Model):
    """One way an event type is expressed. A token matches when its lemma is listed for its
    part of speech and every constraint holds (an empty constraint always holds)."""

    verbs: list[str] = []  # verb lemmas: seize, withdraw
    nouns: list[str] = []  # noun lemmas: blast, seizure
    phrasal: list[str] = []  # verb + particle or preposition: "pull out", "blow up"
    compounds: list[str] = []  # modifier + noun: "air strike", "car bomb"
    preps: list[str] = []  # the trigger must govern one of these prepositions: fire *on*
    subject: list[str] = []  # lexicons the agent must belong to (or its head noun)
    object: list[str] = []  # lexicons the patient must belong to
    target: list[str] = []  # like object, but read as "the attacked party"
    exclude: list[str] = []  # lexicons the patient must not belong to: fire *rubber bullets*
    patient_is_subject: bool = False  # unaccusative verbs: "the district *fell*" (patient = subject)
    agent_prep: Optional[str] = None  # where the agent is then: fell *to* the militants
    confidence: Optional[float] = Field(None, ge=0, le=1)  # base score, overriding the default

    @field_validator("phrasal", "compounds")
    @classmethod
    def _two_words(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value.split()) != 2:
                raise ValueError(f"{value!r} must be two words")
        return [v.lower() for v in values]

    @model_validator(mode="after")
    def _has_words(self) -> Trigger:
        if not (self.verbs or self.nouns or self.phrasal or self.compounds):
            raise ValueError("a trigger needs verbs, nouns, phrasal or compounds")
        return self


COOPERATION, CONFRONTATION = "Cooperation", "Confrontation"
FAMILIES = (
    "Battles",
    "Explosions/Remote violence",
    "Violence against civilians",
    "Protests",
    "Riots",
    "Strategic developments",
    CONFRONTATION,
    COOPERATION,
)


def family(acled_event_type: Optional[str], cameo_root: Optional[str]) -> str:
    """The family an event is counted, coloured and filtered by: its ACLED event type (Battles,
    Protests, ...), else the half of CAMEO's scale its root is in: roots 01-08 (statements,
    consultations, agreements, aid, yielding) are cooperation, 09-20 (accusations, threats,
    sanctions, force) confrontation, as GDELT's quad classes split them."""
    if acled_event_type:
        return acled_event_type
    return COOPERATION if cameo_root and cameo_root <= "08" else CONFRONTATION


class EventType(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    plover: Plover
    cameo_root: str = Field(pattern=r"^(0[1-9]|1[0-9]|20)$")
    acled: Optional[Acled] = None
    # The ACLED type when the actor's sector is one of these (`Government regains territory` when
    # the army takes a town); the sector is known once the actor is matched to its entity.
    acled_by_actor_sector: dict[str, Acled] = {}
    counts: list[CasualtyKind] = []  # casualty counts this type reports
    triggers: list[Trigger] = Field(min_length=1)

    @field_validator("acled_by_actor_sector")
    @classmethod
    def _sectors(cls, value: dict[str, Acled]) -> dict[str, Acled]:
        from transforms.entities.actors import SECTORS

        unknown = sorted(set(value) - set(SECTORS))
        if unknown:
            raise ValueError(f"unknown sector {unknown[0]!r}; one of {', '.join(sorted(SECTORS))}")
        return value

    def acled_for(self, actor_sector: Optional[str]) -> Optional[Acled]:
        return self.acled_by_actor_sector.get(actor_sector or "", self.acled)

    @property
    def family(self) -> str:
        return family(self.acled.event_type if self.acled else None, self.cameo_root)


class Modality(_Model):
    """Cues that an event is not asserted to have happened."""

    modal_verbs: list[str]  # may, would, could: "may topple"
    non_factual_governors: list[str]  # verbs/adjectives over the trigger: plan to, fear that, deny
    factive_governors: list[str]  # infinitives under these did happen: managed to, forced to
    non_factual_nouns: list[str]  # nouns over a noun trigger: fear of attacks, threat of
    non_factual_modifiers: list[str]  # planned attack, foiled plot
    generic_adverbs: list[str]  # regularly clashed: a pattern, not an event
    conditional_markers: list[str]  # if, unless
    enacting_verbs: list[str] = []  # a noun event they govern happened: "claimed the bombing", "pledged allegiance"


class Intentions(_Model):
    """Stated intentions ("will provide aid", "is ready to withdraw", "said they would blockade
    Paris"): the act has not happened, but its announcement is an event. PLOVER codes an actor's
    declared intent as AGREE when the act cooperates (CAMEO roots 01-08) and THREATEN when it
    coerces or harms (14-20), and a declared refusal to cooperate ("will not accept") as REJECT;
    an intent needs an actor and is not passive."""

    modal_verbs: list[str]  # "will provide": the future of an actor's act
    governors: list[str]  # "willing to send", "plans to impose"
    hostile_governors: list[str] = []  # "threatened to withdraw": an intent that is a threat whatever the act
    cooperative: str  # the event type of an intent to cooperate
    hostile: str  # the event type of an intent to coerce or harm
    refusal: Optional[str] = None  # the event type of a declared refusal to cooperate: "will not accept"


class Obligations(_Model):
    """Reported obligations: "Russia said Sudan must return the helicopter" is Russia's demand
    (PLOVER REQUEST): a clause whose verb takes one of `modal_verbs`, reported by one of the
    taxonomy's `speech_verbs`, is an event of type `type` whose actor is the speaker and whose
    target is the one who must act."""

    modal_verbs: list[str]
    type: str
    confidence: Optional[float] = Field(None, ge=0, le=1)

    def trigger(self, speech_verbs: list[str]) -> Trigger:
        """The trigger an obligation's event records: the verbs of speech that report it."""
        return Trigger(verbs=speech_verbs, confidence=self.confidence)


class Confidence(_Model):
    """Score = base (verb or noun trigger, or the trigger's own) + a bonus per argument found - a
    penalty for a background event (in a relative or participle clause)."""

    verb: float = Field(ge=0, le=1)
    noun: float = Field(ge=0, le=1)
    actor: float = Field(ge=0, le=1)
    target: float = Field(ge=0, le=1)
    place: float = Field(ge=0, le=1)
    date: float = Field(ge=0, le=1)
    casualties: float = Field(ge=0, le=1)
    background: float = Field(0, ge=0, le=1)  # subtracted: a trigger in a clause modifying a noun


class Taxonomy(_Model):
    version: int
    lexicons: dict[str, list[str]]
    light_nouns: list[str]  # "members of X", "control of X": the argument is X
    instruments: list[str]  # "a bomb blew up": things that act without being actors
    support_verbs: list[str]  # "staged rallies": the verb's subject is the noun event's actor
    # Verbs that report speech: "Syria says it will withdraw" (the pronoun is Syria), "said Sudan must return"
    speech_verbs: list[str] = []
    idioms: list[str] = []  # verb + particle that never mean the verb's event: "hails from", "pressed ahead"
    modality: Modality
    intentions: Optional[Intentions] = None
    obligations: Optional[Obligations] = None
    casualties: dict[CasualtyKind, list[str]]
    intransitive_casualty_verbs: list[str]  # die: the subject is the casualty
    death_tolls: list[str] = []  # "the death toll rose to 43": the number is the total dead
    vague_dates: list[str]  # date expressions that are durations or vague: "several days"
    confidence: Confidence
    types: list[EventType] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        names = [t.name for t in self.types]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"event type names must be unique: {sorted(duplicated)}")
        for section, wanted in (("intentions", ("cooperative", "hostile", "refusal")), ("obligations", ("type",))):
            for field in wanted if getattr(self, section) is not None else ():
                value = getattr(getattr(self, section), field)
                if value is not None and value not in names:
                    raise ValueError(f"{section}.{field}: unknown event type {value!r}")
        if self.obligations is not None and not self.speech_verbs:
            raise ValueError("obligations need speech_verbs: the verbs that report them")
        for event_type in self.types:
            for trigger in event_type.triggers:
                for ref in trigger.subject + trigger.object + trigger.target + trigger.exclude:
                    if ref not in BUILT_IN and ref not in self.lexicons:
                        raise ValueError(f"type {event_type.name}: unknown lexicon {ref!r}")
        return self

    @field_validator("idioms")
    @classmethod
    def _idiom_pairs(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value.split()) != 2:
                raise ValueError(f"idiom {value!r} must be a verb and a particle")
        return [v.lower() for v in values]

    @cached_property
    def by_name(self) -> dict[str, EventType]:
        return {t.name: t for t in self.types}

    @cached_property
    def words(self) -> dict[str, frozenset[str]]:
        """Each lexicon as a set of lower-case words."""
        return {name: frozenset(w.lower() for w in words) for name, words in self.lexicons.items()}


def load_taxonomy(path: str) -> Taxonomy:
    """Parse and validate the taxonomy file; problems are ConfigErrors naming the file and key."""
    data = read_yaml(
        builtin_file("transforms.events", "taxonomy.yaml") if path == BUILTIN else Path(path), "events.taxonomy file"
    )
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {loc}: {first['msg'].removeprefix('Value error, ')}") from None
