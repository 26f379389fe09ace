"""The actor dictionary (`configs/actors.yaml`), matched by spaCy's `span_ruler` (case-insensitive
phrases) into `doc.spans["actors"]`, so actors are found whatever the NER makes of them.

- Named actors (`actors:`): armed groups, organisations, with a sector code and, where they have
  one, a country. A mention becomes the actor (`ISIS`, `Daesh` -> Islamic State).
- Roles (`roles:`): kinds of actors named by common nouns (troops, police, officials, rebels,
  judges), with a sector and no country: they take the country of whoever the text says they
  belong to (see `transforms.entities.stage`). A role's `titles` count only before a person's name
  (`General`, `Judge`), since alone they are ambiguous ("general election").
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from transforms.core.settings import BUILTIN, ConfigError, builtin_file, read_yaml

SECTORS = {
    "GOV": "government",
    "MIL": "armed forces",
    "COP": "police",
    "REB": "rebels, insurgents, armed groups",
    "OPP": "opposition",
    "CVL": "civilians",
    "JUD": "judiciary",
    "MED": "media",
    "NGO": "non-governmental",
    "IGO": "international organisation",
    "REF": "refugees",
    "CRM": "criminals",
    "BUS": "business",
    "EDU": "education",
    "LAB": "labour",
    "REL": "religious",
    "HLH": "health",
}
ALIAS = "ALIAS"  # span_ruler label of an alias match
TITLE = "TITLE"  # span_ruler label of a title match (counts before a person's name only)


class _ActorFields(BaseModel):
    """An entry of the actor file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    sector: str
    country: Optional[str] = None
    aliases: list[str] = Field(min_length=1)
    titles: list[str] = []  # roles only: words that name the role before a person's name

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


class Actor(_ActorFields):
    role: bool = False  # listed under `roles:` (a kind of actor), not `actors:` (a named one)


class _NamedEntry(_ActorFields):
    @field_validator("titles")
    @classmethod
    def _no_titles(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError("titles belong to roles, not named actors")
        return value


class _RoleEntry(_ActorFields):
    @field_validator("country")
    @classmethod
    def _no_country(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            raise ValueError("a role has no country: it takes the country of whoever it belongs to in the text")
        return value


class _ActorFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: list[_NamedEntry] = []
    roles: list[_RoleEntry] = []


def load_actors(path: str) -> list[Actor]:
    """The actors of a YAML file; problems are one-line ConfigErrors."""
    data = read_yaml(
        builtin_file("transforms.entities", "actors.yaml") if path == BUILTIN else Path(path), "actors file"
    )
    try:
        parsed = _ActorFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{path}: {where}: {error['msg'].removeprefix('Value error, ')}") from None
    actors = [Actor(**entry.model_dump(), role=False) for entry in parsed.actors]
    actors += [Actor(**entry.model_dump(), role=True) for entry in parsed.roles]
    names = [a.name for a in actors]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{path}: actor names must be unique: {', '.join(duplicated)}")
    return actors


def patterns(actors: list[Actor]) -> list[dict[str, str]]:
    """span_ruler phrase patterns: one per alias (label ALIAS) and title (label TITLE), id = the
    actor's name."""
    return [
        {"label": label, "pattern": word, "id": a.name}
        for a in actors
        for label, words in ((ALIAS, a.aliases), (TITLE, a.titles))
        for word in words
    ]
