"""A generator of news-like articles for benchmarks: varied actors, places, events and numbers.

Each article is 300-500 words in the shape of a wire story: a lede reporting an event, an
attribution, casualty and context sentences, a quote and background paragraphs. The vocabulary
is real (place and group names from several regions) so spaCy sees realistic tokens. The
generator is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

REGIONS = {
    "Afghanistan": (
        ["Kandahar", "Helmand", "Kunduz", "Badakhshan", "Ghazni", "Herat"],
        ["Taliban fighters", "Afghan security forces", "Islamic State militants"],
    ),
    "Nigeria": (
        ["Borno", "Maiduguri", "Kaduna", "Zamfara", "Yobe", "Katsina"],
        ["Boko Haram insurgents", "Nigerian troops", "armed bandits"],
    ),
    "Somalia": (
        ["Mogadishu", "Baidoa", "Kismayo", "Beledweyne", "Galkayo"],
        ["al-Shabaab fighters", "Somali government forces", "African Union troops"],
    ),
    "Syria": (
        ["Idlib", "Aleppo", "Deir ez-Zor", "Raqqa", "Hama", "Daraa"],
        ["Syrian government forces", "rebel fighters", "Kurdish-led forces"],
    ),
    "Yemen": (
        ["Marib", "Taiz", "Hodeidah", "Aden", "Saada"],
        ["Houthi rebels", "Saudi-led coalition forces", "government troops"],
    ),
    "Mali": (
        ["Gao", "Timbuktu", "Kidal", "Mopti", "Menaka"],
        ["jihadist militants", "Malian soldiers", "Tuareg rebels"],
    ),
    "Colombia": (
        ["Cauca", "Antioquia", "Narino", "Arauca", "Choco"],
        ["ELN guerrillas", "Colombian police", "dissident FARC fighters"],
    ),
}
OFFICIALS = [
    "Ahmad Karimi",
    "Fatima Bello",
    "Abdi Warsame",
    "Omar Haddad",
    "Moussa Traore",
    "Lucia Gomez",
    "Hassan Nuri",
    "Amina Yusuf",
    "Karim Saleh",
    "Ibrahim Diallo",
    "Ana Restrepo",
    "Yusuf Ali",
]
ROLES = [
    "provincial police spokesman",
    "district governor",
    "military spokesman",
    "local council head",
    "interior ministry official",
    "regional security chief",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LEDES = [
    "{actor} have seized the district of {place} after {days} days of heavy fighting, local officials said on {day}.",
    "At least {dead} people were killed when a bomb exploded near a crowded market in {place} on {day} morning.",
    "{actor} clashed with {other} on the outskirts of {place} on {day}, leaving {dead} fighters dead.",
    "Police arrested {arrested} protesters in {place} on {day} after thousands marched against rising fuel prices.",
    "{actor} withdrew from several positions around {place} on {day} night as the offensive intensified.",
    "An air strike on a village near {place} killed {dead} civilians and wounded {injured} others on {day}.",
    "Gunmen abducted {arrested} students from a school in {place} on {day}, a local official said.",
    "Representatives of {actor} and {other} signed a ceasefire agreement in {place} on {day}.",
]
FOLLOW_UPS = [
    "{official}, the {role}, said {injured} people had been wounded and taken to hospitals in {place2}.",
    "The attackers fled towards {place2} before reinforcements arrived, {official} told reporters.",
    "Residents said the fighting had forced hundreds of families to leave their homes for {place2}.",
    "{official}, the {role}, said security had been stepped up across {country}.",
    "No group immediately claimed responsibility, and the authorities said an investigation was under way.",
    "Witnesses described scenes of panic as people ran for cover near the main road to {place2}.",
]
QUOTES = [
    '"We heard explosions all night and nobody could sleep," said one resident of {place}.',
    '"The situation is under control and our forces are pursuing the attackers," {official} said.',
    '"We have asked the government for help many times, but nothing has changed," a shopkeeper said.',
    '"Our priority is the safety of civilians," the {role} told a news conference in {place2}.',
]
BACKGROUND = [
    "{country} has faced years of insecurity, with armed groups active in large parts of the countryside.",
    "The region has seen a rise in attacks in recent months, according to figures compiled by aid agencies.",
    "Humanitarian organisations have warned that millions of people need assistance across {country}.",
    "Talks between the government and armed groups stalled earlier this year over the release of prisoners.",
    "Observers say the violence could disrupt elections planned for later in the year.",
    "The United Nations has called on all parties to respect international humanitarian law.",
    "Local leaders have repeatedly called for more troops to protect roads and markets in the province.",
    "Farmers in the area say they have been unable to reach their fields for much of the season.",
    "Prices of basic goods have risen sharply since the main road to {place2} was closed.",
    "Schools in several districts have remained closed because of the threat of attacks.",
]


def article(index: int, rng: random.Random) -> dict[str, str]:
    country = rng.choice(sorted(REGIONS))
    places, actors = REGIONS[country]
    place, place2 = rng.sample(places, 2)
    actor, other = rng.sample(actors, 2)
    values = {
        "actor": actor[0].upper() + actor[1:],
        "other": other,
        "place": place,
        "place2": place2,
        "country": country,
        "day": rng.choice(DAYS),
        "days": rng.choice(["two", "three", "four", "several"]),
        "dead": rng.randint(2, 60),
        "injured": rng.randint(1, 80),
        "arrested": rng.randint(3, 120),
        "official": rng.choice(OFFICIALS),
        "role": rng.choice(ROLES),
    }
    paragraphs = [
        rng.choice(LEDES),
        *rng.sample(FOLLOW_UPS, 3),
        rng.choice(QUOTES),
        *rng.sample(BACKGROUND, rng.randint(5, 8)),
    ]
    text = "\n".join(p.format(**values) for p in paragraphs)
    while len(text.split()) < 300:
        text += "\n" + rng.choice(BACKGROUND).format(**values)
    published = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randint(0, 525_600))
    return {
        "url": f"https://news.example.com/{country.lower()}/{index:06d}",
        "title": paragraphs[0].format(**values).split(",")[0],
        "published": published.isoformat().replace("+00:00", "Z"),
        "text": text,
    }


def generate(count: int, seed: int = 0) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for index in range(count):
        yield article(index, rng)


def write_jsonl(directory: Path, count: int, seed: int = 0, files: int = 8) -> list[Path]:
    """`count` articles spread over `files` JSON Lines files (so readers can work in parallel)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"corpus-{i:03d}.jsonl" for i in range(files)]
    handles = [path.open("w", encoding="utf-8") for path in paths]
    try:
        for index, record in enumerate(generate(count, seed)):
            handles[index % files].write(json.dumps(record) + "\n")
    finally:
        for handle in handles:
            handle.close()
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_jsonl(args.directory, args.count, args.seed)
    print(f"wrote {args.count} articles to {len(paths)} files in {args.directory}")


if __name__ == "__main__":
    main()
