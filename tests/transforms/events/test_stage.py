"""Events with the real spaCy model and the project taxonomy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import SEEDS, TAXONOMY
from tests.fixtures import article
from transforms.core.records import AnnotatedArticle, Event
from transforms.core.settings import ConfigError, EventsSettings
from transforms.entities.nlp import doc_to_bytes
from transforms.events.casualties import CasualtyCounter
from transforms.events.stage import EventExtractor, ExtractEvents
from transforms.events.taxonomy import Taxonomy, load_taxonomy

THRESHOLD = 0.5  # the rules' default


@pytest.fixture(scope="module")
def extract(parse: Callable[[str], Any], taxonomy: Taxonomy) -> Callable[[str], list[Event]]:
    extractor = EventExtractor(taxonomy)

    def _extract(text: str) -> list[Event]:
        return [e for e in extractor.extract(parse(text), "a") if e.confidence >= THRESHOLD]

    return _extract


@pytest.fixture(scope="module")
def seed_events(extract: Callable[[str], list[Event]]) -> dict[str, list[Event]]:
    return {path.name[:3]: extract(path.read_text(encoding="utf-8")) for path in sorted(SEEDS.glob("*.txt"))}


def find(events: list[Event], event_type: str, **fields: str) -> list[Event]:
    """Events of a type whose fields contain the given text (case-insensitive)."""
    return [
        e
        for e in events
        if e.event_type == event_type
        and all(value.lower() in (getattr(e, name) or "").lower() for name, value in fields.items())
    ]


def test_taliban_seize_kohistan_district(seed_events: dict[str, list[Event]]) -> None:
    found = find(seed_events["000"], "territory_taken", actor="Taliban", location="Kohistan")
    assert found, seed_events["000"]
    assert (found[0].plover_type, found[0].cameo_root, found[0].acled_event_type, found[0].acled_sub_event_type) == (
        "ASSAULT",
        "19",
        "Battles",
        "Non-state actor overtakes territory",
    )


def test_security_forces_pull_out_of_the_police_headquarters(seed_events: dict[str, list[Event]]) -> None:
    found = find(seed_events["000"], "retreat", actor="security forces", sentence="pulled out")
    assert found and found[0].plover_type == "RETREAT" and found[0].date_text == "Thursday night"


def test_two_bomb_blasts_in_kabul_kill_25(seed_events: dict[str, list[Event]]) -> None:
    (found,) = find(seed_events["000"], "bombing", location="Kabul")
    assert (found.fatalities, found.date_text, found.plover_mode, found.acled_event_type) == (
        25,
        "May 1",
        "explosives",
        "Explosions/Remote violence",
    )


def test_casualties_of_the_kohistan_fighting(seed_events: dict[str, list[Event]]) -> None:
    (found,) = [e for e in seed_events["000"] if "at least 15 members" in e.sentence]
    assert (found.fatalities, found.injured) == (15, 14)


def test_taliban_capture_panjwai_district(seed_events: dict[str, list[Event]]) -> None:
    assert find(seed_events["001"], "territory_taken", actor="Taliban", location="Panjwai")


def test_taliban_fire_on_fleeing_civilians(seed_events: dict[str, list[Event]]) -> None:
    (found,) = find(seed_events["001"], "attack_on_civilians", actor="Taliban", target="citizens")
    assert found.acled_event_type == "Violence against civilians" and found.acled_sub_event_type == "Attack"


def test_car_bomb_kills_the_governors_secretary(seed_events: dict[str, list[Event]]) -> None:
    (found,) = find(seed_events["001"], "bombing", target="secretary")
    assert (found.fatalities, found.date_text, found.actor) == (1, "Sunday", None)  # a bomb is not an actor


def test_afghan_military_personnel_cross_into_tajikistan(seed_events: dict[str, list[Event]]) -> None:
    found = find(seed_events["001"], "retreat", actor="military personnel", location="Badakhshan")
    assert found and found[0].trigger == "crossed"


@pytest.mark.parametrize(
    "words",
    ["long-delayed parliamentary", "may go on to topple", "prepare to leave", "fear of attacks", "aiming to seize"],
)
def test_no_event_from_plans_fears_and_possibilities(seed_events: dict[str, list[Event]], words: str) -> None:
    assert not [e for events in seed_events.values() for e in events if words in e.sentence]


@pytest.mark.parametrize(
    "sentence, reported",
    [
        ("Officials fear the militants could attack the town before the elections.", set()),
        ("The army did not withdraw from the district, a spokesman said.", set()),
        ("Troops are preparing to leave the base next month.", set()),
        ("Militants regularly clash with police in the valley.", set()),
        ("The Taliban leader also hails from Panjwai.", set()),  # idioms of the taxonomy
        ("The Taliban have pressed ahead with their campaign in the north.", set()),
        # the speech act or the prevention happened; the act it is about did not
        ("Rebels threatened to seize the airport if talks failed.", {"threat"}),
        ("The government denied that soldiers had killed civilians in the village.", {"rejection"}),
        ("The governor accused the army of deliberately withdrawing from the town.", {"accusation"}),
        ("Police foiled a planned bombing of the stadium.", {"disrupted_weapons"}),
        ("The opposition called for troops to withdraw from the capital.", {"request"}),
        ("The union demanded that the government release the prisoners.", {"request"}),
        ("The two sides held talks on a withdrawal of foreign troops.", {"consultation"}),
        ("The envoy handed over a letter from the president.", set()),  # not a handover of territory
        ("Police are investigating crimes committed by the gang.", {"investigation"}),  # committing is no pledge
        ("Organisers postponed the march until next week.", set()),
        ("The junta lifted the curfew in the capital on Friday.", {"concession"}),  # no curfew imposed
        ("Members of the banned group met in the besieged town.", {"consultation"}),  # states, not events
    ],
)
def test_nothing_reported_as_happened_when_it_did_not(
    extract: Callable[[str], list[Event]], sentence: str, reported: set[str]
) -> None:
    assert {e.event_type for e in extract(sentence)} == reported


def test_an_announced_withdrawal_is_an_intent_dated_when_it_was_announced(seed_events: dict[str, list[Event]]) -> None:
    (found,) = [e for events in seed_events.values() for e in events if "would withdraw" in e.sentence]
    assert (found.event_type, found.plover_type, found.actor, found.date_text) == (
        "pledge",
        "AGREE",
        "American troops",
        "April",
    )  # "by September 11" is when they would go


@pytest.mark.parametrize(
    "sentence, expected",
    [
        (
            "Aid agencies said the government must let convoys reach the besieged town.",
            {"actor": "Aid agencies", "target": "government", "plover_type": "REQUEST"},
        ),
        (
            "The opposition insisted that elections should be held in March.",
            {"actor": "opposition", "target": None, "date_text": "March"},
        ),
    ],
)
def test_a_reported_obligation_is_the_speakers_request(
    extract: Callable[[str], list[Event]], sentence: str, expected: dict[str, Any]
) -> None:
    (found,) = [e for e in extract(sentence) if e.event_type == "request"]
    assert {name: getattr(found, name) for name in expected} == expected


@pytest.mark.parametrize(
    "sentence",
    [
        "The minister said the attackers must have known the route.",
        "He said he must leave early.",
        "Analysts may say the army must retreat.",
    ],
)
def test_an_inference_an_own_duty_or_an_unasserted_report_is_no_request(
    extract: Callable[[str], list[Event]], sentence: str
) -> None:
    assert not [e for e in extract(sentence) if e.event_type == "request"]


@pytest.mark.parametrize(
    "sentence, reported",
    [
        ("The rebels said they would free all the hostages.", {"pledge"}),
        ("He said the president would visit Paris next week.", {"pledge"}),
        ("Police said they would arrest anyone who joined the march.", {"threat"}),
        ("If the talks fail, the rebels will attack the capital.", {"threat"}),
        ("Kenya will withdraw its troops unless the attacks stop.", {"threat"}),  # an ultimatum
        # possible, feared, negated or passive acts are no one's stated intent
        ("The army may withdraw from the town.", set()),
        ("Officials fear the rebels will attack the town.", set()),
        # a declared refusal to cooperate is a rejection (CAMEO 12); not to harm, no event
        ("The government will not withdraw its troops, the minister said.", {"rejection"}),
        ("Syria says it won't accept any more refugees.", {"rejection"}),
        ("The rebels said they would not attack civilians.", set()),
        ("The troops will be deployed next month.", set()),
    ],
)
def test_a_stated_intent_to_cooperate_is_a_pledge_and_one_to_harm_a_threat(
    extract: Callable[[str], list[Event]], sentence: str, reported: set[str]
) -> None:
    assert {e.event_type for e in extract(sentence)} == reported


@pytest.mark.parametrize(
    "sentence, event_type, expected",
    [
        (
            "Gunmen killed five villagers in Borno on Monday.",
            "attack_on_civilians",
            {"actor": "Gunmen", "fatalities": 5, "location": "Borno", "date_text": "Monday"},
        ),
        (
            "Police arrested 12 protesters in Nairobi on Tuesday.",
            "arrest",
            {"actor": "Police", "arrested": 12, "location": "Nairobi"},
        ),
        (
            "Israeli air strikes killed at least 20 people in Gaza on Saturday.",
            "airstrike",
            {"fatalities": 20, "location": "Gaza", "plover_mode": "aerial"},
        ),
        (
            "Thousands of protesters marched through Santiago on Sunday.",
            "protest",
            {"location": "Santiago", "acled_event_type": "Protests"},
        ),
        (
            "Rebels stormed the town of Kidal and seized the army base on Friday.",
            "territory_taken",
            {"actor": "Rebels", "location": "Kidal"},
        ),
        ("The district fell to the militants after two days of fighting.", "territory_taken", {"actor": "militants"}),
        (
            "Both sides signed a peace agreement in Doha on Thursday.",
            "agreement",
            {"location": "Doha", "plover_type": "AGREE"},
        ),
        # support verbs: the verb's subject is the actor of the noun event
        ("Angry activists staged rallies in Lahore on Sunday.", "protest", {"actor": "Angry activists"}),
        (
            "Militants carried out an attack on a police checkpoint in Quetta.",
            "armed_clash",
            {"actor": "Militants", "target": "police checkpoint", "location": "Quetta"},
        ),
        ("Five hundred rebels surrendered to the army in Soroti last week.", "retreat", {"actor": "rebels"}),
        # nationalities in the plural are people; "dead" completes "shot", it does not describe the men
        (
            "Soldiers shot dead three Palestinians near Jenin.",
            "attack_on_civilians",
            {"actor": "Soldiers", "target": "Palestinians", "location": "Jenin"},
        ),
        ("Ghanaian authorities deported 168 Liberians.", "expulsion", {"target": "Liberians"}),
        ("Gunmen shot dead two policemen in Kano.", "armed_clash", {"target": "policemen", "location": "Kano"}),
        # a subject pronoun of reported speech is the speaker; "ready to" is an intent of its subject
        (
            "The interior ministry said it had arrested 40 suspects in Mosul.",
            "arrest",
            {"actor": "interior ministry", "arrested": 40},
        ),
        ("The Taliban said they had captured the district.", "territory_taken", {"actor": "Taliban"}),
        ("The rebels announced they would free all foreign hostages.", "pledge", {"actor": "rebels"}),
        ("Ghana is ready to host talks between the two sides, the president said.", "pledge", {"actor": "Ghana"}),
        # CAMEO roots: sanctions (16) are not restrictions (17); lifting them or a curfew yields (08)
        ("The European Union imposed sanctions on five generals.", "sanction", {"plover_type": "SANCTION"}),
        ("Authorities declared a state of emergency in three provinces.", "restrictions", {"plover_type": "COERCE"}),
        ("The junta lifted the curfew in the capital on Friday.", "concession", {"actor": "junta"}),
        ("The government accepted the strikers' demands.", "concession", {"plover_type": "CONCEDE"}),
        ("The union called off the general strike.", "concession", {"actor": "union"}),
        ("The army eased its siege of the city.", "blockade_lifted", {"plover_type": "RETREAT"}),
        ("Mali expelled United Nations peacekeepers.", "sanction", {"actor": "Mali"}),
        ("Police tightened security around the parliament.", "mobilization", {"plover_type": "MOBILIZE"}),
        ("The two countries restored diplomatic ties after a decade.", "support", {"plover_type": "SUPPORT"}),
        ("Militants released journalist Peter Greste on Sunday.", "release", {"target": "Peter Greste"}),
        ("Kenya extradited two suspects to Uganda.", "cooperation", {"actor": "Kenya"}),  # CAMEO 063
        (
            "Ten people were killed when gunmen stormed a hotel in Mogadishu.",
            "attack_on_civilians",
            {"actor": "gunmen", "fatalities": 10, "location": "Mogadishu"},
        ),
        # a capital acting as its government is no location
        ("The troops withdrew from Syria last year, a decision Washington welcomed.", "retreat", {"location": "Syria"}),
        ("Nairobi said the army had pulled out of Somalia.", "retreat", {"location": "Somalia"}),
        ("The charity delivered 300 tonnes of food to Tigray.", "aid", {"target": "food"}),  # past the amount
        ("Thousands of dock workers stopped work on Monday.", "protest", {"actor": "dock workers"}),
        ("The government handed over control of the province to the army.", "retreat", {"target": "province"}),
        # the doer of a noun event: the verb's subject past a possessive pronoun, a framing noun
        # or a preposition ("in" only with a determiner: "in protest" is no event's doer)
        (
            "Rebels said their fighters had completed their withdrawal from the town.",
            "retreat",
            {"actor": "their fighters"},
        ),
        (
            "Gunmen wounded two policemen in a grenade attack in Mombasa.",
            "grenade_attack",
            {"actor": "Gunmen", "location": "Mombasa"},
        ),
        (
            "The Qatari emir launched a mediation effort between the two sides.",
            "consultation",
            {"actor": "Qatari emir"},
        ),
        ("The president arrived in Kabul on a surprise visit.", "consultation", {"actor": "president"}),
        ("The rebels declared a unilateral ceasefire on Friday.", "ceasefire", {"actor": "rebels"}),
        ("A judge opened an investigation into the killings.", "investigation", {"actor": "judge"}),
        ("The minister was indicted by a court and will resign.", "pledge", {"actor": "minister"}),
        ("Serbia lodged an official protest with Albania.", "accusation", {"actor": "Serbia"}),  # not a street protest
        ("Police prevented a demonstration by students in Ankara.", "restrictions", {"actor": "Police"}),
        # a subjunctive clause under a verb of speech is the speaker's demand, not the act
        (
            "The opposition insisted that the army withdraw from the capital.",
            "request",
            {"actor": "opposition", "target": "army"},
        ),
        # a name is not a light noun: the actor is the group, not Iraq
        (
            "Fighters of the Islamic State of Iraq seized the town.",
            "territory_taken",
            {"actor": "Fighters of Islamic State of Iraq"},
        ),
    ],
)
def test_events_in_sentences_never_seen_in_the_seeds(
    extract: Callable[[str], list[Event]], sentence: str, event_type: str, expected: dict[str, Any]
) -> None:
    found = [e for e in extract(sentence) if e.event_type == event_type]
    assert found, extract(sentence)
    assert {name: getattr(found[0], name) for name in expected} == expected


@pytest.mark.parametrize(
    "sentence, counts",
    [
        (
            "At least 15 members of the security forces had been killed and 14 wounded.",
            {"fatalities": 15, "injured": 14},
        ),
        ("The blasts hit the market, leaving at least 25 people dead.", {"fatalities": 25}),
        ("Soldiers opened fire, killing two protesters and three bystanders.", {"fatalities": 5}),
        ("The secretary of the governor was killed in the attack.", {"fatalities": 1}),
        ("Twenty-five people died and dozens were injured.", {"fatalities": 25}),
        ("Police detained 1,200 people over the weekend.", {"arrested": 1200}),
        ("At least five bullets hit my car, he said.", {}),
        ("The Taliban seized three pickup trucks and a large number of weapons.", {}),
        ("Officials said the attack could kill hundreds.", {}),
        ("The death toll from the blast rose to 43, officials said.", {"fatalities": 43}),  # a toll is the total
        ("The toll stood at 30 on Monday.", {"fatalities": 30}),
        ("Officials fear the toll could reach 100.", {}),
        ("At least a dozen people were killed and dozens injured.", {"fatalities": 12}),  # dozens: no number
    ],
)
def test_casualty_counts(
    parse: Callable[[str], Any], taxonomy: Taxonomy, sentence: str, counts: dict[str, int]
) -> None:
    (span,) = list(parse(sentence).sents)
    assert CasualtyCounter(taxonomy).count(span) == counts


def test_an_event_recalled_in_a_relative_clause_scores_lower(extract: Callable[[str], list[Event]]) -> None:
    def killing(sentence: str) -> Event:
        (found,) = [e for e in extract(sentence) if e.plover_type == "ASSAULT"]
        return found

    told = killing("Police killed two protesters in Belgrade last year.")
    recalled = killing("Students marched in Belgrade, where police killed two protesters last year.")
    assert recalled.confidence < told.confidence and recalled.fatalities == told.fatalities == 2


def test_events_carry_their_evidence_and_a_stable_id(extract: Callable[[str], list[Event]]) -> None:
    text = "Police arrested 12 protesters in Nairobi on Tuesday. Gunmen killed five villagers in Borno."
    first, second = extract(text), extract(text)
    assert first == second
    assert [e.sentence_index for e in first] == [0, 1]
    assert first[1].sentence == "Gunmen killed five villagers in Borno."
    assert 0.5 <= first[1].confidence <= 1.0


def taxonomy_with(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> str:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["types"][0]["plover"].update(type="FIGHT"), "types.0.plover.type"),
        (lambda d: d["types"][0].update(cameo_root="21"), "types.0.cameo_root"),
        (lambda d: d["types"][0]["acled"].update(sub_event_type="Armed clash"), "is not an ACLED sub-event type"),
        (
            lambda d: d["types"][4]["triggers"][0].update(object=["no_such_lexicon"]),
            "unknown lexicon 'no_such_lexicon'",
        ),
        (lambda d: d["types"][1].update(name=d["types"][0]["name"]), "must be unique"),
        (lambda d: d["types"][0]["triggers"].append({"verbs": []}), "a trigger needs"),
        (lambda d: d["intentions"].update(refusal="refusal"), "intentions.refusal: unknown event type 'refusal'"),
        (lambda d: d.pop("speech_verbs"), "obligations need speech_verbs"),
    ],
)
def test_taxonomy_mistakes_are_config_errors(tmp_path: Path, change: Callable[[dict], None], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_taxonomy(taxonomy_with(tmp_path, change))


def test_a_new_event_type_is_a_data_change(tmp_path: Path, parse: Callable[[str], Any]) -> None:
    def add_cyberattack(data: dict[str, Any]) -> None:
        data["types"].append(
            {
                "name": "cyberattack",
                "description": "Computer systems are attacked.",
                "plover": {"type": "ASSAULT", "mode": "cyber"},
                "cameo_root": "18",
                "triggers": [{"nouns": ["cyberattack"]}, {"verbs": ["hack"], "object": ["computers"]}],
            }
        )
        data["lexicons"]["computers"] = ["server", "network", "system", "website"]

    extractor = EventExtractor(load_taxonomy(taxonomy_with(tmp_path, add_cyberattack)))
    events = extractor.extract(parse("Hackers hacked the ministry's servers in Tallinn on Monday."), "a")
    assert [(e.event_type, e.plover_type, e.location) for e in events] == [("cyberattack", "ASSAULT", "Tallinn")]


def test_stage_passes_articles_on_and_dead_letters_unreadable_parses(spacy_model: Any, taxonomy: Taxonomy) -> None:
    good = article("good", "Police arrested 12 protesters in Nairobi on Tuesday, officials said.")
    (data,) = spacy_model.map_docs([(good.text, None)], 1, lambda doc, _: doc_to_bytes(doc))
    broken = article("broken", "whatever")
    with TestPipeline(argv=["--runner=FnApiRunner"]) as p:
        result = (
            p
            | beam.Create([AnnotatedArticle(good, data, []), AnnotatedArticle(broken, b"not a docbin", [])])
            | ExtractEvents(taxonomy, EventsSettings(min_confidence=THRESHOLD))
        )
        assert_that(result.articles | beam.Map(lambda a: a.article_id), equal_to(["good"]), label="articles")
        assert_that(
            result.events | beam.Map(lambda e: (e.article_id, e.event_type, e.arrested)),
            equal_to([("good", "arrest", 12)]),
            label="events",
        )
        assert_that(
            result.dead_letters | beam.Map(lambda d: (d.source, d.stage)),
            equal_to([("src/broken", "events")]),
            label="dead letters",
        )


WIRE_A = (
    "A car bomb exploded near a police station in Kabul on Saturday, killing at least 12 people, officials said. "
    "Separately, Afghan forces recaptured the Panjwai district from the Taliban on Friday after two days of "
    "heavy fighting, a provincial spokesman said."
)
WIRE_B = (
    "At least 15 people were killed on Saturday when a car bomb went off outside a police station in the Afghan "
    "capital Kabul, the interior ministry said. No group has yet claimed responsibility for the attack, which "
    "also wounded dozens of passers-by."
)


def test_two_wires_one_bombing_dates_publishers_primary_events_and_clusters(tmp_path: Path) -> None:
    from tests.conftest import read_tables, run_cli

    records = [
        {"url": "https://wire-a.example/kabul", "text": WIRE_A, "published": "2021-05-02T09:00:00Z"},
        {"url": "https://wire-b.example/news/1", "text": WIRE_B, "published": "2021-05-02T11:30:00Z"},
    ]
    (tmp_path / "wires.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert run_cli("--input", str(tmp_path / "wires.jsonl"), "--output", str(tmp_path / "out")) == 0
    tables = read_tables(tmp_path / "out")
    bombings = [e for e in tables["events"] if e["event_type"] == "bombing"]
    assert {e["publisher"] for e in bombings} == {"wire-a.example", "wire-b.example"}
    assert {e["event_date"][:10] for e in bombings} == {"2021-05-01"} and {e["date_precision"] for e in bombings} == {
        "day"
    }
    (retaken,) = [e for e in tables["events"] if e["event_type"] == "territory_taken"]
    assert (retaken["acled_sub_event_type"], retaken["actor_sector"], retaken["event_date"][:10]) == (
        "Government regains territory",
        "MIL",
        "2021-04-30",
    )
    (cluster,) = [c for c in tables["event_clusters"] if c["event_type"] == "bombing"]
    assert (cluster["articles"], cluster["fatalities"], cluster["location"], cluster["first_date"][:10]) == (
        2,
        15,
        "Kabul",
        "2021-05-01",
    )
    assert cluster["sources"] == ["wire-a.example", "wire-b.example"]
    assert {a["primary_acled_sub_event_type"] for a in tables["articles"]} == {"Remote explosive/landmine/IED"}


def test_seed_articles_have_their_seizure_as_primary_event(seeds_run: dict[str, Any]) -> None:
    assert {a["primary_event_type"] for a in seeds_run["tables"]["articles"]} == {"territory_taken"}
    assert all(
        a["primary_event_id"] in {e["event_id"] for e in seeds_run["tables"]["events"]}
        for a in seeds_run["tables"]["articles"]
    )
    assert all(e["event_date"] is None for e in seeds_run["tables"]["events"])  # the seeds have no date: none invented


def test_seed_dates_resolve_once_the_publication_time_is_known(tmp_path: Path) -> None:
    from tests.conftest import read_tables, run_cli

    text = (SEEDS / "000_b89b20759bfda383.txt").read_text(encoding="utf-8")
    record = {"text": text, "published": "2018-05-05T08:30:00Z"}  # a Saturday
    (tmp_path / "seed.json").write_text(json.dumps(record), encoding="utf-8")
    assert run_cli("--input", str(tmp_path / "seed.json"), "--output", str(tmp_path / "out")) == 0
    events = read_tables(tmp_path / "out")["events"]
    dated = {(e["event_type"], e["date_text"]): e["event_date"][:10] for e in events if e["event_date"]}
    assert dated[("retreat", "Thursday night")] == "2018-05-03"
    assert dated[("bombing", "May 1")] == "2018-05-01"


def test_an_article_whose_primary_event_has_no_acled_type_takes_its_best_acled_event() -> None:
    from tests.transforms.events.test_clusters import mention
    from transforms.events.stage import primary

    statement = mention("e1", "a", event_type="accusation")._replace(
        plover_type="ACCUSE", acled_event_type=None, acled_sub_event_type=None, confidence=0.9
    )
    bombing = mention("e2", "a")._replace(sentence_index=2, confidence=0.6)
    blast = primary(article("a", "..."), [statement, bombing])
    assert (blast.primary_event_type, blast.primary_plover_type) == ("accusation", "ACCUSE")
    assert (blast.primary_acled_event_type, blast.primary_acled_sub_event_type) == (
        "Explosions/Remote violence",
        "Remote explosive/landmine/IED",
    )
    alone = primary(article("a", "..."), [statement])
    assert alone.primary_event_type == "accusation" and alone.primary_acled_sub_event_type is None
