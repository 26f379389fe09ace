"""spaCy plumbing shared by the entity and event stages.

- `SpacyModel`: the pipeline, loaded once per worker process (`apache_beam.utils.shared`), used
  under a lock (one process may run several DoFn threads) and inside `memory_zone()` so the
  string store does not grow over a long run.
- Parses travel from the entity stage to the event stage as bytes (`doc_to_bytes`, about 9 KB for
  a 500-word article): spaCy runs once per article, and the event stage needs no model, only a
  blank vocabulary (`DocReader`), renewed now and then to bound memory.
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import Optional, TypeVar

import numpy as np
import spacy
from spacy.attrs import ORTH, intify_attr
from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.vocab import Vocab, create_vocab

from transforms.geo.countries import demonym_code

# Attributes the event stage reads; the tok2vec tensor and user data are not shipped.
DOC_ATTRS = ("ORTH", "LEMMA", "POS", "TAG", "DEP", "HEAD", "MORPH", "ENT_IOB", "ENT_TYPE", "SENT_START")
PLACE_LABELS_COMPONENT = "newsbeam_place_labels"
ACTORS_COMPONENT = "newsbeam_actors"
ACTOR_SPANS = "actors"  # doc.spans key of the actor dictionary's matches
_LEADING = frozenset({"the", "a", "an"})
_TRAILING = frozenset({"'s", "’s", "'", "’"})

T = TypeVar("T")
C = TypeVar("C")


@Language.factory(PLACE_LABELS_COMPONENT, default_config={"place_words": []})
def _make_place_labeller(nlp: Language, name: str, place_words: list[str]) -> Callable[[Doc], Doc]:
    return PlaceLabeller(place_words)


class PlaceLabeller:
    """Fix place labels the small English models get wrong, after NER:

    - a name directly followed by a place word is a place: `Kohistan district`, `Panjwai
      district` (often tagged NORP or ORG). A proper noun always; an adjective ("Teshkan" is
      tagged like "Afghan") only before a singular place word without an article, which tells
      `in Teshkan district` from `an Afghan district` and `Afghan districts`. Likewise a name
      after a place word and "of": `the town of Kidal`;
    - with a gazetteer (`is_place`), a name it knows as a place is a place after a locative
      preposition: `in Kyiv` (tagged ORG), `towards Bukavu` (tagged PERSON); and so is a NORP it
      knows as a place that is no nationality word (`Kidal`);
    - one sense per document: a NORP or ORG mention with the same text as a place mention
      elsewhere in the document is that place (`the seizure of Kohistan`); so is a PERSON
      mention, when the gazetteer knows the name as a place.
    """

    _NAME_LABELS = frozenset({"NORP", "ORG", "PERSON"})
    _PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
    _LOCATIVE = frozenset(
        {
            "in",
            "near",
            "at",
            "into",
            "towards",
            "toward",
            "outside",
            "around",
            "across",
            "inside",
            "through",
            "from",
            "within",
        }
    )

    def __init__(self, place_words: Sequence[str]):
        self._words = frozenset(w.lower() for w in place_words)
        self.is_place: Optional[Callable[[str], bool]] = None  # set by `SpacyModel` when it has a gazetteer

    def __call__(self, doc: Doc) -> Doc:
        entities = list(doc.ents)
        for i, ent in enumerate(entities):
            following = doc[ent.end] if ent.end < len(doc) else None
            if ent.label_ in self._NAME_LABELS and (self._names_place(ent, following) or self._located(ent)):
                entities[i] = Span(doc, ent.start, ent.end, label="GPE")
            elif ent.label_ == "NORP" and self._known_place(ent):  # "control of Kidal" tagged NORP
                entities[i] = Span(doc, ent.start, ent.end, label="GPE")
        place_names = {ent.text for ent in entities if ent.label_ in self._PLACE_LABELS}
        for i, ent in enumerate(entities):
            if ent.text in place_names and (
                ent.label_ in ("NORP", "ORG")
                or (ent.label_ == "PERSON" and self.is_place is not None and self.is_place(ent.text))
            ):
                entities[i] = Span(doc, ent.start, ent.end, label="GPE")
        if entities != list(doc.ents):
            doc.ents = entities
        return doc

    def _known_place(self, ent: Span) -> bool:
        """A NORP the gazetteer knows as a place and that is no nationality word: a place."""
        name = entity_name(ent)
        return bool(name) and self.is_place is not None and self.is_place(name) and demonym_code(name) is None

    def _located(self, ent: Span) -> bool:
        """A name the gazetteer knows, right after a locative preposition: `in Kyiv`."""
        if self.is_place is None or ent.start == 0 or ent.doc[ent.start - 1].lower_ not in self._LOCATIVE:
            return False
        name = entity_name(ent)
        return bool(name) and self.is_place(name)

    def _names_place(self, ent: Span, following: Optional[Token]) -> bool:
        if place_noun_of(ent, self._words) is not None:
            return True
        if following is None or following.lemma_.lower() not in self._words:
            return False
        if ent.root.pos_ == "PROPN":
            return True
        bare = not any(c.dep_ in ("det", "poss") for c in following.children)
        return bare and "Plur" not in following.morph.get("Number", [])


def place_noun_of(span: Span, place_words: frozenset[str]) -> Optional[Token]:
    """`the town of Kidal`: the place word whose "of" the name is the object of, if any."""
    root = span.root
    noun = root.head.head
    if root.dep_ == "pobj" and root.head.lower_ == "of" and noun.lemma_.lower() in place_words:
        return noun
    return None


class SpacyModel:
    """A loaded spaCy pipeline, safe to share between the threads of one worker process."""

    def __init__(
        self,
        name: str,
        place_words: Sequence[str] = (),
        actor_patterns: Sequence[dict[str, str]] = (),
        is_place: Optional[Callable[[str], bool]] = None,
    ):
        self.name = name
        self.nlp = spacy.load(name)
        labeller = self.nlp.add_pipe(PLACE_LABELS_COMPONENT, after="ner", config={"place_words": list(place_words)})
        labeller.is_place = is_place  # type: ignore[attr-defined]
        if actor_patterns:
            ruler = self.nlp.add_pipe(
                "span_ruler",
                name=ACTORS_COMPONENT,
                last=True,
                config={"spans_key": ACTOR_SPANS, "phrase_matcher_attr": "LOWER"},
            )
            ruler.add_patterns(list(actor_patterns))  # type: ignore[attr-defined]
        self._lock = threading.Lock()

    def map_docs(self, items: Sequence[tuple[str, C]], batch_size: int, fn: Callable[[Doc, C], T]) -> list[T]:
        """`fn(doc, context)` for each `(text, context)`; the Docs do not outlive this call."""
        with self._lock, self.nlp.memory_zone():
            parsed = self.nlp.pipe(items, as_tuples=True, batch_size=batch_size)
            return [fn(doc, context) for doc, context in parsed]


def entity_name(span: Span) -> str:
    """The mention without leading articles, trailing possessives or punctuation at either end."""
    tokens = list(span)
    while tokens and (tokens[0].lower_ in _LEADING or tokens[0].is_punct):
        tokens.pop(0)
    while tokens and (tokens[-1].lower_ in _TRAILING or tokens[-1].is_punct):
        tokens.pop()
    if not tokens:
        return ""
    return " ".join(span.doc[tokens[0].i : tokens[-1].i + 1].text.split())


_ATTR_IDS = [intify_attr(name) for name in DOC_ATTRS]
_ORTH = _ATTR_IDS.index(ORTH)
_HEADER = struct.Struct("<II")  # tokens, attributes


def doc_to_bytes(doc: Doc) -> bytes:
    """The Doc's `DOC_ATTRS`, its spaces and the strings they name, zlib-compressed.

    What spaCy's `DocBin` stores for these attributes, at a third of its cost in a pipeline
    worker: DocBin also serialises span groups and packs with srsly's msgpack, which looks its
    extensions up in the installed packages' entry points on every call (docs/benchmarks.md)."""
    array = doc.to_array(_ATTR_IDS).reshape(len(doc), len(_ATTR_IDS)).astype("<u8", copy=False)
    strings = {s for t in doc for s in (t.text, t.lemma_, t.tag_, t.dep_, t.ent_type_, str(t.morph))}
    spaces = bytes(bool(t.whitespace_) for t in doc)
    body = json.dumps(sorted(strings), ensure_ascii=False).encode("utf-8")
    return zlib.compress(_HEADER.pack(*array.shape) + array.tobytes() + spaces + body, 1)


class DocReader:
    """Turns `doc_to_bytes` output back into Docs over a blank vocabulary (no model needed).

    The vocabulary collects the strings of every doc read, so it is replaced every `renew_every`
    documents to keep a long run's memory bounded. (A memory zone would bound it too, but makes
    each read over four times slower: 8.6 ms against 1.9 ms for a 300-word article.)
    """

    def __init__(self, lang: str = "en", renew_every: int = 5000):
        self._lang = lang
        self._renew_every = renew_every
        self._reads = 0
        self._vocab = _blank_vocab(lang)

    @property
    def vocab_size(self) -> int:
        return len(self._vocab.strings)

    def read(self, data: bytes) -> Doc:
        if self._reads >= self._renew_every:
            self._vocab, self._reads = _blank_vocab(self._lang), 0
        self._reads += 1
        raw = zlib.decompress(data)
        tokens, attributes = _HEADER.unpack_from(raw)
        end = _HEADER.size + tokens * attributes * 8
        array = np.frombuffer(raw, dtype="<u8", count=tokens * attributes, offset=_HEADER.size)
        strings = self._vocab.strings
        for string in json.loads(raw[end + tokens :]):
            strings.add(string)
        table = array.reshape(tokens, attributes)
        words = [strings[orth] for orth in table[:, _ORTH].tolist()]
        doc = Doc(self._vocab, words=words, spaces=[bool(b) for b in raw[end : end + tokens]])
        return doc.from_array(_ATTR_IDS, table) if tokens else doc  # type: ignore[arg-type]


def _blank_vocab(lang: str) -> Vocab:
    """The vocabulary `spacy.blank(lang)` holds (the language's lexical attributes: `like_num`,
    `is_stop`...), without building the rest of a pipeline: 0.1 ms instead of 70-130 ms."""
    return create_vocab(lang, spacy.util.get_lang_class(lang).Defaults)
