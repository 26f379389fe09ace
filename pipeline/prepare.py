"""Preflight: check everything that can be checked before anything runs, and load what the graph
needs. `prepare` turns every configuration problem into a `ConfigError` (one line, exit 2) and
returns the `Job` the runs take; nothing after it fails for a reason the user could have fixed
in the settings.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Optional

import spacy.util
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions

from pipeline.config import Settings, require_input
from pipeline.job import Job
from pipeline.options import pipeline_options
from pipeline.runners import check_remote
from transforms.core.dead_letters import Rejected
from transforms.core.settings import ConfigError, FeedSource
from transforms.entities.actors import load_actors
from transforms.events.taxonomy import load_taxonomy
from transforms.read import feed_state
from transforms.read.feeds import is_http_url, local_feed_exists
from transforms.read.files import resolve_patterns
from transforms.read.http.fetch import check_url
from transforms.sinks.postgres import DatabaseError, prepare_database

_LOG = logging.getLogger(__name__)


def model_language(name: str) -> str:
    """The language of an installed spaCy pipeline package, without loading the model."""
    if not spacy.util.is_package(name):
        raise ConfigError(f"entities.model: spaCy pipeline '{name}' is not installed")
    return str(spacy.util.get_model_meta(spacy.util.get_package_path(name))["lang"])


def check_output_dir(path: str) -> None:
    """A local output directory must be creatable and writable (remote ones are checked by Beam)."""
    if FileSystems.get_scheme(path) is not None:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output.dir: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output.dir: {path} is not writable")


def prepare(settings: Settings, beam_flags: Iterable[str] = (), postgres_dsn: Optional[str] = None) -> Job:
    """Validate settings against the world: inputs exist, the output can be written, the taxonomy
    parses, the model is installed, the Beam options and runner are known, the database (if any)
    takes the tables."""
    options = pipeline_options(settings.beam, beam_flags)
    if settings.run_id is None:
        settings = settings.model_copy(update={"run_id": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")})
    check_remote(settings, options)
    if options.view_as(StandardOptions).streaming and (settings.input.paths or not settings.feeds.sources):
        raise ConfigError("a streaming run reads feeds: set feeds.sources and no input.paths (files are read in batch)")
    if options.view_as(StandardOptions).streaming and settings.bigquery.table_prefix:
        raise ConfigError(
            "bigquery.table_prefix: the BigQuery sink loads files in batch runs; streaming runs write "
            "files and PostgreSQL"
        )
    if settings.output.partition_by != "run_date" and (
        settings.output.layout != "partitioned" or options.view_as(StandardOptions).streaming
    ):
        raise ConfigError(
            f"output.partition_by: {settings.output.partition_by} files the lake's rows by their dates: it needs "
            "output.layout: partitioned, in a batch run (streaming runs file rows by window)"
        )
    require_input(settings)
    patterns, files = resolve_patterns(settings.input.paths) if settings.input.paths else ([], 0)
    check_feeds(settings.feeds.sources)
    check_output_dir(settings.output.dir)
    taxonomy = load_taxonomy(settings.events.taxonomy)
    lang = model_language(settings.entities.model)
    states = feed_state.VALIDATORS.load(settings.state_path) if settings.feeds.sources else {}
    actors = load_actors(settings.entities.actors) if settings.entities.actors else []
    dsn = prepare_postgres(settings, postgres_dsn) if settings.postgres.enabled else None
    return Job(
        settings=settings,
        options=options,
        patterns=patterns,
        files=files,
        taxonomy=taxonomy,
        lang=lang,
        feed_states=states,
        actors=actors,
        postgres_dsn=dsn,
    )


def prepare_postgres(settings: Settings, dsn: Optional[str]) -> str:
    """The DSN (the flag, else the environment), with the tables created or migrated."""
    dsn = dsn or os.environ.get(settings.postgres.dsn_env)
    if not dsn:
        raise ConfigError(f"postgres.enabled: no DSN: set ${settings.postgres.dsn_env} or pass --postgres-dsn")
    try:
        for line in prepare_database(dsn, settings.postgres.schema_name):
            _LOG.info("postgres: %s", line)
    except DatabaseError as exc:
        raise ConfigError(str(exc)) from None
    return dsn


def check_feeds(sources: list[FeedSource]) -> None:
    """Feed URLs must be http(s) or an existing feed file."""
    for source in sources:
        if is_http_url(source.url):
            try:
                check_url(source.url)
            except Rejected as exc:
                raise ConfigError(f"feeds.sources: {exc.reason}") from None
        elif "://" in source.url and not source.url.startswith("file://"):
            raise ConfigError(f"feeds.sources: {source.url}: only http, https and file feeds are supported")
        elif not local_feed_exists(source.url):
            raise ConfigError(f"feeds.sources: feed file not found: {source.url}")
