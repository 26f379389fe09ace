"""The actor dictionary (`configs/actors.yaml`): armed groups, state forces, governments and
civilians by name, with a sector code and, where it has one, a country. Matched by spaCy's
`span_ruler` (case-insensitive phrases) into `doc.spans["actors"]`, so actors are found whatever
the NER makes of them; the entity stage merges each match with the NER mention it overlaps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.config import ConfigError, read_yaml

SECTORS = {
    "GOV": "government", "MIL": "armed forces", "COP": "police", "REB": "rebels, insurgents, armed groups",
    "OPP": "opposition", "CVL": "civilians", "JUD": "judiciary", "MED": "media", "NGO": "non-governmental",
    "IGO": "international organisation", "REF": "refugees", "CRM": "criminals", "BUS": "business",
    "EDU": "education", "LAB": "labour", "REL": "religious",
}


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    sector: str
    country: Optional[str] = None
    aliases: list[str] = Field(min_length=1)

    @field_validator("sector")
    @classmethod
    def _known_sector(cls, value: str) -> str:
        if value not in SECTORS:
            raise ValueError(f"unknown sector {value!r}; one of {', '.join(sorted(SECTORS))}")
        return value

    @field_validator("country")
    @classmethod
    def _iso3(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and pycountry.countries.get(alpha_3=value.upper()) is None:
            raise ValueError(f"not an ISO 3166 alpha-3 country code: {value!r}")
        return value.upper() if value else None


class _ActorFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: list[Actor]


def load_actors(path: str) -> list[Actor]:
    """The actors of a YAML file; problems are one-line ConfigErrors."""
    data = read_yaml(Path(path), "actors file")
    try:
        actors = _ActorFile.model_validate(data).actors
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{path}: {where}: {error['msg'].removeprefix('Value error, ')}") from None
    names = [a.name for a in actors]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{path}: actor names must be unique: {', '.join(duplicated)}")
    return actors


def patterns(actors: list[Actor]) -> list[dict[str, str]]:
    """span_ruler phrase patterns: one per alias, labelled with the sector, id = the actor's name."""
    return [{"label": a.sector, "pattern": alias, "id": a.name} for a in actors for alias in a.aliases]
