"""Entities with the real spaCy model: names, merging, label fixes, the batched stage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
import spacy
from apache_beam.pvalue import TaggedOutput
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.utils import shared
from spacy.tokens import DocBin

from tests.conftest import MODEL, SEEDS
from tests.fixtures import article
from transforms.core.records import AnnotatedArticle, Article, DeadLetter, Entity
from transforms.core.settings import ConfigError, EntitiesSettings
from transforms.entities.actors import load_actors, patterns
from transforms.entities.nlp import DOC_ATTRS, DocReader, SpacyModel, doc_to_bytes
from transforms.entities.rows import entities_of
from transforms.entities.stage import AnnotateFn, Annotator, ExtractEntities
from transforms.geo.geocode import Gazetteer

REQUIRED = {
    "Taliban",
    "Kohistan",
    "Badakhshan",
    "Fayzabad",
    "Kabul",
    "Kandahar",
    "Panjwai",
    "Tajikistan",
    "Zabihullah Mujahid",
    "Hibatullah Akhundzada",
}
LABELS = frozenset(EntitiesSettings().labels)


def seed_articles() -> list[Article]:
    return [article(path.stem, path.read_text(encoding="utf-8")) for path in sorted(SEEDS.glob("*.txt"))]


def test_seed_entities_include_the_people_groups_and_places(parse: Callable[[str], Any]) -> None:
    names = {e.name for a in seed_articles() for e in entities_of(parse(a.text), a.article_id, LABELS)}
    assert names >= REQUIRED, REQUIRED - names


def test_mentions_merge_by_normalised_name(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "The Taliban said on Monday that the Taliban's fighters had entered Kunduz. "
        "Hasti Mohammad, a district governor, confirmed it. Kunduz has been contested for years."
    )
    by_name = {e.name: e for e in entities_of(doc, "a1", LABELS)}
    taliban = by_name["Taliban"]
    assert taliban.mention_count == 2 and taliban.first_offset == 4
    assert taliban.entity_id != by_name["Kunduz"].entity_id
    assert "Hasti Mohammad" in by_name  # the trailing comma is not part of the name
    assert by_name["Kunduz"].label == "GPE" and by_name["Kunduz"].mention_count == 2


def test_case_variants_are_one_entity_under_its_ordinary_spelling(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "NEW DELHI: Police arrested 12 people in NEW DELHI on Tuesday after clashes, said Rajesh Kumar. "
        "Officials in New Delhi said the protest was illegal."
    )
    places = [(e.name, e.mention_count, e.variants) for e in entities_of(doc, "a1", LABELS) if e.label == "GPE"]
    assert places == [("New Delhi", 3, ["NEW DELHI", "New Delhi"])]
    dateline_only = parse("NEW DELHI: Police arrested 12 people in NEW DELHI on Tuesday, said Rajesh Kumar.")
    assert "New Delhi" in {e.name for e in entities_of(dateline_only, "a2", LABELS)}  # title case, not capitals


def test_what_is_no_name_is_no_entity(parse: Callable[[str], Any]) -> None:
    """Lower-case words NER calls places in cased text, and mentions with undecodable bytes."""
    doc = parse(
        "Police said singh and the nda met in delhi on Tuesday, where Rajesh Kumar of the Congress party "
        "spoke. Sh\ufffd\ufffdkh Ahmed and \ufffd\ufffd\ufffd attacked a police post in Mumbai."
    )
    names = {e.name for e in entities_of(doc, "a1", LABELS)}
    assert {"Rajesh Kumar", "Congress", "Mumbai"} <= names
    assert not names & {"singh", "nda", "delhi"}
    assert not any("\ufffd" in name for name in names)


PLACE_WORDS = frozenset(EntitiesSettings().place_words)


def test_places_of_one_name_but_different_kinds_stay_apart(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "Fighting spread across Kandahar province on Sunday. Residents of Kandahar city said the "
        "airport in Kandahar city was closed, and officials in Kandahar province asked for help."
    )
    places = sorted(
        (e.name, e.place_type, e.mention_count)
        for e in entities_of(doc, "a1", LABELS, PLACE_WORDS)
        if e.name == "Kandahar"
    )
    assert places == [("Kandahar", "city", 2), ("Kandahar", "province", 2)]


def test_a_bare_mention_joins_the_one_kind_of_place_named(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "The Taliban seized Kohistan district on Thursday. The fall of Kohistan followed days of "
        "fighting, and Kohistan is now the third district they hold in Badakhshan province."
    )
    by_name = {e.name: e for e in entities_of(doc, "a1", LABELS, PLACE_WORDS)}
    assert (by_name["Kohistan"].place_type, by_name["Kohistan"].mention_count) == ("district", 3)
    assert by_name["Badakhshan"].place_type == "province"


def test_countries_and_plural_place_words_give_no_place_type(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "Kandahar is one of the 34 provinces of Afghanistan. Afghanistan has faced war for decades, "
        "and the city of Herat was calm."
    )
    by_name = {e.name: e for e in entities_of(doc, "a1", LABELS, PLACE_WORDS)}
    assert by_name["Afghanistan"].place_type is None and by_name["Afghanistan"].mention_count == 2
    assert by_name["Herat"].place_type == "city"


def test_spelling_variants_of_a_name_merge_and_different_names_do_not(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "Clashes were reported in Badakhshan on Monday. Officials in Badakshan said two posts fell, "
        "and the governor of Badakhshan asked Kabul for help. Iran and Iraq sent condolences."
    )
    by_name = {e.name: e for e in entities_of(doc, "a1", LABELS, PLACE_WORDS)}
    assert by_name["Badakhshan"].mention_count == 3
    assert set(by_name["Badakhshan"].variants) == {"Badakhshan", "Badakshan"}
    assert "Badakshan" not in by_name
    assert {"Iran", "Iraq"} <= set(by_name)


def test_salience_favours_the_entity_the_story_is_about(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "The Taliban captured Panjwai district on Sunday. The Taliban said the district police "
        "headquarters had fallen. Residents fled to Kandahar. A spokesman for the Taliban confirmed it. "
        "Separately, officials in Herat reported calm."
    )
    salience = {e.name: e.salience for e in entities_of(doc, "a1", LABELS, PLACE_WORDS)}
    assert salience["Taliban"] == max(salience.values())
    assert salience["Panjwai"] > salience["Herat"]
    assert all(0 <= value <= 1 for value in salience.values())


def test_names_followed_by_a_place_word_are_places(parse: Callable[[str], Any]) -> None:
    doc = parse(
        "Security posts in Teshkan district were abandoned, and the militants took Kohistan district. "
        "The seizure of Kohistan brings to three the districts they hold out of nearly 400 districts."
    )
    labels = {(ent.text, ent.label_) for ent in doc.ents}
    assert ("Teshkan", "GPE") in labels and ("Kohistan", "GPE") in labels
    assert not any(text.startswith("nearly") and label == "GPE" for text, label in labels)
    assert all(label == "GPE" for text, label in labels if text == "Kohistan")  # every mention


def test_stage_outputs_annotations_entities_and_dead_letters() -> None:
    articles = seed_articles()
    too_long = article("long", "word " * 1200)
    settings = EntitiesSettings(model=MODEL, batch_size=2, max_chars=5000)
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        result = p | beam.Create([*articles, too_long]) | ExtractEntities(settings)
        assert_that(
            result.annotated | beam.Map(lambda a: (a.article.article_id, len(a.doc) > 1000)),
            equal_to([(a.article_id, True) for a in articles]),
            label="annotated",
        )
        assert_that(
            result.dead_letters | beam.Map(lambda d: (d.source, d.stage, d.reason)),
            equal_to(
                [
                    (
                        "src/long",
                        "entities",
                        "text too long for entity extraction: 6,000 characters (entities.max_chars is 5,000)",
                    )
                ]
            ),
            label="dead letters",
        )

        def names(entities: list[Entity]) -> None:
            assert {"Taliban", "Kabul"} <= {e.name for e in entities}

        assert_that(result.entities, names, label="entities")


class _FailsOnPoison:
    """Wraps the real model; any batch holding the poisoned text fails, like a crashing document."""

    def __init__(self, model: Any):
        self._model = model

    def map_docs(self, items, batch_size, fn):
        if any("POISON" in text for text, _ in items):
            raise RuntimeError("model crashed")
        return self._model.map_docs(items, batch_size, fn)


def test_a_failing_document_does_not_take_its_batch_with_it(spacy_model: Any) -> None:
    settings = EntitiesSettings(model=MODEL)
    fn = AnnotateFn(settings, shared.Shared())
    fn._annotator = Annotator(settings, [], _FailsOnPoison(spacy_model), None)
    batch = [
        article("good1", "The Taliban entered Kabul on Monday."),
        article("bad", "POISON " * 30),
        article("good2", "Police in Nairobi arrested twelve people."),
    ]
    outputs = list(fn.process(batch))
    annotated = [o.article.article_id for o in outputs if isinstance(o, AnnotatedArticle)]
    letters = [o.value for o in outputs if isinstance(o, TaggedOutput) and isinstance(o.value, DeadLetter)]
    assert annotated == ["good1", "good2"]
    assert [(d.source, d.stage, d.error_type, d.reason) for d in letters] == [
        ("src/bad", "entities", "RuntimeError", "unexpected RuntimeError: model crashed")
    ]


def test_the_parse_hand_off_keeps_every_attribute_the_event_stage_reads(spacy_model: Any) -> None:
    """`doc_to_bytes` + `DocReader` give the Doc spaCy's own DocBin gives over `spacy.blank`:
    tokens, spaces, lemmas, tags, morphology, the dependency tree, sentences, entities and the
    language's lexical attributes (numbers, stop words); empty and odd texts too."""
    texts = [
        *(path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))),
        "",
        "Hi.",
        "Ünïcödé “quotes” —  spaced\n\nlines\tand\u00a0odd  spaces, Nairobi's 3 km² of حلب.",
    ]
    pairs = spacy_model.map_docs(
        [(t, None) for t in texts],
        8,
        lambda doc, _: (doc_to_bytes(doc), DocBin(attrs=list(DOC_ATTRS), docs=[doc]).to_bytes()),
    )
    reader, vocab = DocReader(), spacy.blank("en").vocab

    def view(doc: Any) -> Any:
        tokens = [
            (
                t.text,
                t.whitespace_,
                t.lemma_,
                t.pos_,
                t.tag_,
                t.dep_,
                t.head.i,
                str(t.morph),
                t.ent_iob_,
                t.ent_type_,
                t.like_num,
                t.is_stop,
                t.is_punct,
                t.is_alpha,
                t.is_title,
                t.shape_,
            )
            for t in doc
        ]
        return tokens, [(e.start, e.end, e.label_) for e in doc.ents], [s.start for s in doc.sents], doc.text

    for ours, theirs in pairs:
        (expected,) = DocBin().from_bytes(theirs).get_docs(vocab)
        assert view(reader.read(ours)) == view(expected)


def test_doc_reader_bounds_its_vocabulary(spacy_model: Any) -> None:
    texts = [f"Fighters of group{i} attacked town{i} and village{i} on day{i}." for i in range(40)]
    blobs = spacy_model.map_docs([(t, None) for t in texts], 8, lambda doc, _: doc_to_bytes(doc))
    reader = DocReader(renew_every=10)
    sizes = []
    for blob in blobs:
        doc = reader.read(blob)
        sizes.append(reader.vocab_size)
        assert doc.text.startswith("Fighters of group")
    assert max(sizes) < 2 * max(sizes[:10])  # renewed every 10 documents, not growing with all 40
    kept = reader.read(blobs[0])
    for blob in blobs[1:12]:
        reader.read(blob)
    assert kept[2].text == "group0"  # a doc stays valid after its reader renews its vocabulary


# -- the actor dictionary ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def actor_parse() -> Any:
    """Parse with the actor dictionary of configs/ (as the stage does)."""
    actors = load_actors("builtin")
    gazetteer = Gazetteer()
    model = SpacyModel(MODEL, sorted(PLACE_WORDS), patterns(actors), gazetteer.is_place)
    by_name = {a.name: a for a in actors}

    class Parse:
        def __call__(self, text: str) -> dict[str, Entity]:
            return {e.name: e for e in self.rows(text)}

        @staticmethod
        def rows(text: str) -> list[Entity]:
            (found,) = model.map_docs(
                [(text, None)], 8, lambda doc, _: entities_of(doc, "a1", LABELS, PLACE_WORDS, by_name, gazetteer)
            )
            return found

    return Parse()


def test_actor_aliases_merge_into_one_named_actor_with_sector_and_country(actor_parse: Callable[[str], Any]) -> None:
    found = actor_parse(
        "ISIS claimed the attack on Tuesday. Daesh fighters had entered the town, and the "
        "Islamic State said more would follow. The Taliban condemned it."
    )
    islamic_state = found["Islamic State"]
    assert islamic_state.mention_count == 3 and islamic_state.sector == "REB" and islamic_state.country is None
    assert {"ISIS", "Daesh", "Islamic State"} <= set(islamic_state.variants)
    assert (found["Taliban"].sector, found["Taliban"].country) == ("REB", "AFG")


def test_actors_ner_misses_are_found_with_their_sector(actor_parse: Callable[[str], Any]) -> None:
    found = actor_parse(
        "security forces pulled out of the district after al-shabaab fighters attacked, "
        "and border police said civilians had fled."
    )
    assert found["government forces"].sector == "MIL" and found["government forces"].label == "ACTOR"
    assert found["al-Shabaab"].sector == "REB" and found["al-Shabaab"].country == "SOM"
    assert found["police"].sector == "COP" and "border police" in found["police"].variants
    assert found["civilians"].sector == "CVL"


def test_places_the_model_calls_people_or_organisations_are_places_after_in_near_towards(actor_parse: Any) -> None:
    """The small model tags `Kyiv` ORG and `Bukavu` PERSON here; the gazetteer knows them."""
    found = actor_parse(
        "Congolese troops fled towards Bukavu, officials in Kyiv said. Bukavu was calm on "
        "Sunday, and Sandra Bullock said so too."
    )
    assert (found["Bukavu"].label, found["Bukavu"].country, found["Bukavu"].mention_count) == ("GPE", "COD", 2)
    assert (found["Kyiv"].label, found["Kyiv"].geo) == ("GPE", "city")
    assert found["Sandra Bullock"].label != "GPE"  # not a place the gazetteer knows


def test_roles_take_the_country_of_their_owner_and_stay_apart_by_country(actor_parse: Callable[[str], Any]) -> None:
    text = (
        "Afghan troops crossed into Tajikistan, where Tajik border guards disarmed them. Russian forces and "
        "Ukrainian forces clashed near Bakhmut, officials in Sudan's government said, and the president of "
        "Armenia called for calm."
    )
    model_rows = actor_parse.rows(text)
    roles = {(e.name, e.country): e.sector for e in model_rows if e.label == "ACTOR"}
    assert roles[("army", "AFG")] == "MIL" and roles[("police", "TJK")] == "COP"
    assert roles[("government forces", "RUS")] == roles[("government forces", "UKR")] == "MIL"  # two rows
    assert roles[("government", "SDN")] == roles[("government", "ARM")] == "GOV"
    by_name = {e.name: e for e in model_rows}
    assert (by_name["Afghan"].country, by_name["Afghan"].sector) == ("AFG", "MIL")  # the owner takes the sector
    assert (by_name["Tajik"].label, by_name["Tajik"].country) == ("NORP", "TJK")  # NER said PERSON


def test_a_role_owned_by_a_named_actor_is_that_actor(actor_parse: Callable[[str], Any]) -> None:
    found = actor_parse("Hamas fighters fired rockets, and Taliban fighters entered the town on Monday.")
    assert found["Hamas"].mention_count == 1 and found["Taliban"].mention_count == 1
    assert "militia" not in found  # no separate "fighters" entity


def test_titled_people_take_the_sector_and_country_of_their_title(actor_parse: Callable[[str], Any]) -> None:
    found = actor_parse(
        "Taliban spokesman Zabihullah Mujahid said the district had fallen. Tom King, the British "
        "defence secretary, said General Michel Aoun had left Beirut before President Emmanuel "
        "Macron arrived. The general election will be held in May."
    )
    assert (found["Zabihullah Mujahid"].sector, found["Zabihullah Mujahid"].country) == ("REB", "AFG")
    assert (found["Tom King"].sector, found["Tom King"].country) == ("GOV", "GBR")  # apposition
    assert found["Michel Aoun"].sector == "MIL"
    assert found["Emmanuel Macron"].sector == "GOV" and found["Emmanuel Macron"].country is None  # not guessed
    assert "army" not in found  # "general" is a title before a name only


def test_organisations_take_the_sector_of_the_role_word_heading_their_name(actor_parse: Callable[[str], Any]) -> None:
    found = actor_parse(
        "The Supreme Court rejected the appeal of the National Union of Teachers, and the Kenya "
        "Defence Forces were deployed. The Soviet Union collapsed in 1991."
    )
    assert found["Supreme Court"].sector == "JUD"
    assert found["National Union of Teachers"].sector == "LAB"  # its head is the union, not the teachers
    assert (found["Kenya Defence Forces"].sector, found["Kenya Defence Forces"].country) == ("MIL", "KEN")
    assert "labour" not in found  # the union inside a place name is no actor


@pytest.mark.parametrize(
    "content, error",
    [
        ("actors:\n  - {name: X, sector: XYZ, aliases: [x]}\n", "unknown sector 'XYZ'"),
        (
            "actors:\n  - {name: X, sector: REB, country: Narnia, aliases: [x]}\n",
            "not an ISO 3166 alpha-3 country code",
        ),
        ("roles:\n  - {name: troops, sector: MIL, country: AFG, aliases: [troops]}\n", "a role has no country"),
        ("actors:\n  - {name: X, sector: REB, aliases: [x], titles: [General]}\n", "titles belong to roles"),
        (
            "actors:\n  - {name: X, sector: REB, aliases: [x]}\nroles:\n  - {name: X, sector: MIL, aliases: [y]}\n",
            "actor names must be unique: X",
        ),
    ],
)
def test_the_actor_file_is_validated(tmp_path: Path, content: str, error: str) -> None:
    bad = tmp_path / "actors.yaml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_actors(str(bad))


# -- geocoding ---------------------------------------------------------------------------------
def test_seed_places_are_geocoded(seeds_run: dict[str, Any]) -> None:
    """Badakhshan and Kandahar -> AFG with their provinces, Kabul and Fayzabad with coordinates,
    Tajikistan -> TJK; districts the gazetteer does not have are unresolved, not guessed."""
    places = {(e["name"], e["place_type"]): e for e in seeds_run["tables"]["entities"] if e["geo"]}
    assert (places[("Badakhshan", "province")]["country"], places[("Badakhshan", "province")]["subdivision"]) == (
        "AFG",
        "AF-BDS",
    )
    assert places[("Kandahar", "province")]["subdivision"] == "AF-KAN"
    for city, province in (("Kabul", "AF-KAB"), ("Fayzabad", "AF-BDS")):
        found = places[(city, None)]
        assert found["geo"] == "city" and found["country"] == "AFG" and found["latitude"] and found["longitude"]
        assert found["subdivision"] == province  # the province the city lies in
    assert (places[("Tajikistan", None)]["geo"], places[("Tajikistan", None)]["country"]) == ("country", "TJK")
    assert (
        places[("Kohistan", "district")]["geo"] == "unresolved" and places[("Kohistan", "district")]["country"] is None
    )


def test_ambiguous_places_resolve_in_the_article_context_or_not_at_all() -> None:
    gazetteer = Gazetteer()
    alone = gazetteer.resolve_all([("Hyderabad", None)])
    assert alone[("Hyderabad", None)].level == "unresolved"  # India and Pakistan both have a large one
    in_pakistan = gazetteer.resolve_all([("Pakistan", None), ("Hyderabad", None)])
    assert in_pakistan[("Hyderabad", None)].country == "PAK"
    assert gazetteer.resolve_all([("Paris", None)])[("Paris", None)].country == "FRA"  # far the largest
    named = gazetteer.resolve_all([("US", None), ("Kandahār", "province"), ("Qwertzburg", None)])
    assert [named[k].level for k in named] == ["country", "subdivision", "unresolved"]
