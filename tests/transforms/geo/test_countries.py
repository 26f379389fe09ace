"""Country names, nationality words and the geonames admin1 -> ISO 3166-2 table."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.geo.admin1 import name_forms, subdivision_of, table
from transforms.geo.countries import country_code, demonym_code, is_country, owner_code
from transforms.geo.geocode import Gazetteer


def test_country_names_short_forms_and_iso_names() -> None:
    assert [country_code(n) for n in ("Afghanistan", "the US", "U.K.", "Russia", "Iran", "Kandahār", "Georgia")] == [
        "AFG",
        "USA",
        "GBR",
        "RUS",
        "IRN",
        None,
        "GEO",
    ]
    assert country_code("Korea") == "KOR" and country_code("Congo") == "COD"  # shared short names: the larger
    assert is_country("the Netherlands") and not is_country("Kabul")


def test_nationality_words_name_their_country() -> None:
    assert [demonym_code(w) for w in ("Afghan", "Afghans", "Tajik", "Israeli", "Serb", "French", "Congolese")] == [
        "AFG",
        "AFG",
        "TJK",
        "ISR",
        "SRB",
        "FRA",
        "COD",
    ]  # shared demonyms go to the most populous country
    assert demonym_code("Kurdish") is None and demonym_code("Taliban") is None  # no country, not guessed
    assert owner_code("Sudan") == "SDN" and owner_code("Sudanese") == "SDN"


def test_admin1_table_maps_geonames_areas_to_iso_subdivisions() -> None:
    assert subdivision_of("AF", "13") == "AF-KAB" and subdivision_of("AF", "01") == "AF-BDS"
    assert subdivision_of("US", "DC") == "US-DC" and subdivision_of("CN", "30") == "CN-GD"
    assert subdivision_of("XX", "99") is None
    assert len(table()) > 1900
    assert {"madrid", "guangdong", "galicia"} <= name_forms("Madrid, Comunidad de") | name_forms(
        "Guangdong Sheng"
    ) | name_forms("Galicia [Galicia]")


def test_cities_get_the_subdivision_they_lie_in() -> None:
    places = Gazetteer().resolve_all([("Paris", None), ("Fayzabad", None), ("Washington", None)])
    assert [places[k].subdivision for k in places] == ["FR-IDF", "AF-BDS", "US-DC"]


def test_the_gazetteer_is_built_once_then_read_from_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker reads the indexes another process built; a damaged cache file is built again and
    replaced; without a writable cache directory the gazetteer still works."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    names = [("Kabul", None), ("Fayzabad", None), ("Springfield", None), ("Sindh", "province"), ("Kandahar", None)]
    built = Gazetteer().resolve_all(names)
    (cache,) = (tmp_path / "cache" / "newsbeam").glob("gazetteer-*.marshal")
    assert Gazetteer().resolve_all(names) == built
    cache.write_bytes(cache.read_bytes()[:1000])  # a write cut short by a full disk
    assert Gazetteer().resolve_all(names) == built
    assert cache.stat().st_size > 1_000_000
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # a file, not a directory
    assert Gazetteer().resolve_all(names) == built
    assert built[("Kabul", None)].subdivision == "AF-KAB"
