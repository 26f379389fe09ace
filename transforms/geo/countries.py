"""Countries by name and by nationality word, as ISO 3166 alpha-3 codes: the one place newsbeam
knows them.

- Names: pycountry's names, common and official names, and the part before a comma ("Iran,
  Islamic Republic of" -> Iran), plus the short forms news uses that ISO does not list (US, UK,
  Russia). A short name shared by two countries goes to the more populous ("Congo", "Korea").
- Nationality words (demonyms): countryinfo's, plus the common forms it lacks (Tajik, Saudi,
  Serb). A demonym shared by several countries names the most populous one ("French" is France,
  not Réunion; "Congolese" is DR Congo).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Optional

import countryinfo
import pycountry

# Short forms in news use that ISO 3166 does not list as names.
COUNTRY_ALIASES = {
    "us": "USA",
    "u.s.": "USA",
    "usa": "USA",
    "u.s.a.": "USA",
    "america": "USA",
    "united states of america": "USA",
    "uk": "GBR",
    "u.k.": "GBR",
    "britain": "GBR",
    "great britain": "GBR",
    "england": "GBR",
    "scotland": "GBR",
    "wales": "GBR",
    "northern ireland": "GBR",
    "russia": "RUS",
    "south korea": "KOR",
    "north korea": "PRK",
    "turkey": "TUR",
    "ivory coast": "CIV",
    "czech republic": "CZE",
    "dr congo": "COD",
    "drc": "COD",
    "democratic republic of congo": "COD",
    "democratic republic of the congo": "COD",
    "uae": "ARE",
    "burma": "MMR",
    "palestine": "PSE",
    "gaza": "PSE",
    "gaza strip": "PSE",
    "west bank": "PSE",
    "kosovo": "XKX",
    "vatican": "VAT",
    "the netherlands": "NLD",
    "holland": "NLD",
    "east timor": "TLS",
    "swaziland": "SWZ",
    "cape verde": "CPV",
    "macedonia": "MKD",
    "laos": "LAO",
    "vietnam": "VNM",
    "taiwan": "TWN",
    "syria": "SYR",
    "iran": "IRN",
    "moldova": "MDA",
    "bolivia": "BOL",
    "venezuela": "VEN",
    "tanzania": "TZA",
}

# Nationality words countryinfo does not list (it has one demonym per country).
DEMONYM_ALIASES = {
    "tajik": "TJK",
    "tajikistani": "TJK",
    "saudi": "SAU",
    "serb": "SRB",
    "croat": "HRV",
    "bosnian": "BIH",
    "azeri": "AZE",
    "kazakh": "KAZ",
    "uzbek": "UZB",
    "kyrgyz": "KGZ",
    "nepali": "NPL",
    "argentine": "ARG",
    "scottish": "GBR",
    "slovenian": "SVN",
    "icelandic": "ISL",
    "ecuadorian": "ECU",
    "djiboutian": "DJI",
    "kosovar": "XKX",
    "philippine": "PHL",
    "emirian": "ARE",
}


def fold(name: str) -> str:
    """Case, accents, curly apostrophes and a leading `the` ignored: `the Kandahār` -> `kandahar`."""
    if name.isascii():  # nothing to decompose (the gazetteer folds 230,000 such names at start-up)
        folded = name.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", name.casefold())
        folded = "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")
    return " ".join(folded.split()).removeprefix("the ")


@lru_cache(maxsize=1)
def _populations() -> dict[str, int]:
    populations = {}
    for info in countryinfo.all_countries():
        try:
            populations[info.iso(3)] = int(info.population() or 0)
        except (KeyError, TypeError, ValueError):  # an entry without ISO codes or population
            continue
    return populations


def _most_populous(codes: list[str]) -> str:
    populations = _populations()
    return max(codes, key=lambda code: (populations.get(code, 0), code))


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    candidates: dict[str, list[str]] = {}
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                for form in {fold(value), fold(value.split(",")[0])}:
                    candidates.setdefault(form, []).append(country.alpha_3)
    names = {form: _most_populous(sorted(set(codes))) for form, codes in candidates.items()}
    names.update(COUNTRY_ALIASES)
    return names


@lru_cache(maxsize=1)
def _demonyms() -> dict[str, str]:
    candidates: dict[str, list[str]] = {}
    for info in countryinfo.all_countries():
        try:
            word, code = info.demonym(), info.iso(3)
        except (KeyError, TypeError):
            continue
        if word and code:
            candidates.setdefault(fold(word), []).append(code)
    demonyms = {word: _most_populous(codes) for word, codes in candidates.items()}
    demonyms.update(DEMONYM_ALIASES)
    return demonyms


def country_code(name: str) -> Optional[str]:
    """The ISO alpha-3 code of a country name (`Afghanistan`, `the US`, `Iran`), else None."""
    return _names().get(fold(name))


def is_country(name: str) -> bool:
    return country_code(name) is not None


def demonym_code(word: str) -> Optional[str]:
    """The country a nationality word names (`Afghan`, `Tajik`, `Israelis`), else None."""
    folded = fold(word)
    demonyms = _demonyms()
    found = demonyms.get(folded)
    if found is None and folded.endswith("s"):  # the people: Afghans, Israelis
        found = demonyms.get(folded[:-1])
    return found


def owner_code(name: str) -> Optional[str]:
    """The country a qualifier names, as a country (`Sudan's government`) or a nationality (`Afghan troops`)."""
    return country_code(name) or demonym_code(name)
