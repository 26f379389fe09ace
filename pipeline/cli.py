"""The `newsbeam` command (also `python -m pipeline`).

Exit codes: 0 success; 1 the pipeline failed or its accounting does not balance; 2 a usage or
configuration problem, reported in one line. Beam is imported only after logging is set up.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Optional

from pipeline.config import Settings, dump_settings, load_settings, reference, require_input
from transforms.core.settings import ConfigError, builtin_file

_LOG = logging.getLogger("newsbeam")
BUILTIN_FILES = {"taxonomy": ("transforms.events", "taxonomy.yaml"), "actors": ("transforms.entities", "actors.yaml")}
_QUIET_LIBRARIES = ("apache_beam", "trafilatura", "htmldate", "courlan", "urllib3", "distributed")

RUN_EPILOG = """\
Any other --flag is passed to Beam as a pipeline option, after the config's `beam:` settings
(so the command line wins), e.g.:
  newsbeam run --config configs/local.yaml
  newsbeam run --config configs/local.yaml --input 'news/**/*.jsonl' --output out/
  newsbeam run --config configs/feeds.yaml
  newsbeam run --feed https://example.org/rss.xml --output out/
  newsbeam run --config configs/local.yaml --direct_running_mode=multi_processing --direct_num_workers=2
  newsbeam run --config configs/local.yaml --set clean.min_words=50 --set events.min_confidence=0.6
  newsbeam run --config configs/streaming.yaml --max-duration 3600
"""


class _DropKnownNoise(logging.Filter):
    """Beam logs this on import when the optional GCP client libraries are absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


def _configure_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropKnownNoise())
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO if verbosity > 1 else logging.WARNING)
    # Overwriting the previous run's files is the expected behaviour, not a warning.
    logging.getLogger("apache_beam.io.filebasedsink").setLevel(logging.INFO if verbosity > 1 else logging.ERROR)


def _add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", help="YAML settings (e.g. configs/local.yaml)")
    parser.add_argument(
        "--input",
        metavar="PATH",
        action="append",
        help="file pattern or directory to read (repeatable; replaces input.paths)",
    )
    parser.add_argument(
        "--feed",
        metavar="URL",
        action="append",
        default=[],
        help="RSS/Atom/RDF feed URL or feed file to read (repeatable; adds to feeds.sources)",
    )
    parser.add_argument("--output", metavar="DIR", help="output directory (replaces output.dir)")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one setting, e.g. --set clean.min_words=50 (repeatable)",
    )


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser and its subcommand parsers by name."""
    parser = argparse.ArgumentParser(
        prog="newsbeam",
        description="Streaming news ingestion on Apache Beam: read, clean, de-duplicate, extract "
        "entities and events, write tables.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the pipeline",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the pipeline and print a summary of what happened.",
    )
    _add_settings_arguments(run)
    run.add_argument(
        "--max-duration",
        metavar="SECONDS",
        type=float,
        help="streaming (--streaming): stop after this long and print the summary (replaces streaming.max_duration)",
    )
    run.add_argument(
        "--postgres-dsn",
        metavar="DSN",
        help="PostgreSQL to upsert the tables into (postgres.enabled; default: $NEWSBEAM_POSTGRES_DSN)",
    )
    run.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: Beam's too)")
    run.add_argument("-q", "--quiet", action="count", default=0, help="warnings and errors only")

    config = commands.add_parser(
        "config",
        help="print the effective settings as YAML",
        description="Print the settings a run would use, after defaults, the config file and overrides.",
    )
    _add_settings_arguments(config)
    config.add_argument(
        "--reference",
        action="store_true",
        help="print every setting with its default and meaning (Markdown, as in docs/configuration.md)",
    )
    config.add_argument(
        "--builtin",
        choices=sorted(BUILTIN_FILES),
        help="print a file newsbeam ships instead (to copy, edit and name in events.taxonomy or entities.actors)",
    )

    evaluate = commands.add_parser(
        "eval",
        help="score entity or event extraction against labelled data",
        description="entities: NER and actor-sector precision/recall/F1 against "
        "labelled JSON Lines (text with spans) or the PLOVER gold-standard JSON. "
        "events: per-class precision/recall/F1, macro and weighted F1 and a "
        "confusion table of the event classifier against labelled JSON Lines "
        "({id, text, labels}) or the PLOVER gold-standard JSON.",
    )
    evaluate.add_argument("what", choices=("entities", "events"), help="what to evaluate")
    evaluate.add_argument("path", help="labelled data file")
    evaluate.add_argument("-c", "--config", metavar="FILE", help="settings (model, actors, taxonomy, threshold)")
    evaluate.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one setting, e.g. --set events.classifier=null for the rules alone (repeatable)",
    )
    evaluate.add_argument(
        "--level",
        choices=("plover", "acled", "type"),
        default="plover",
        help="events: which class the labels name (default plover; PLOVER JSON is always plover)",
    )

    training = commands.add_parser(
        "train",
        help="train the event classifier on a labelled corpus",
        description="Validate a labelled corpus, cross-validate, score the dev split, and write a model "
        "folder (manifest.json + model.npz) that events.classifier can name.",
    )
    training.add_argument("what", choices=("events",), help="what to train")
    training.add_argument("corpus", help="a JSON Lines file or a folder of them (e.g. corpora/events)")
    training.add_argument("--out", default="events-model", help="where to write the model (default: events-model)")
    training.add_argument(
        "--level", choices=("event_type", "acled", "plover"), help="the label to learn (default: the corpus's first)"
    )
    training.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    training.add_argument("-C", type=float, default=10.0, dest="c", help="inverse regularisation (default 10)")
    training.add_argument("-c", "--config", metavar="FILE", help="settings (for events.taxonomy)")

    schema = commands.add_parser(
        "schema", help="print the output tables' schemas", description="Print the schema of each output table."
    )
    schema.add_argument(
        "--format",
        choices=("markdown", "arrow", "sql", "bigquery", "bigquery-lake"),
        default="markdown",
        help="markdown (the README's reference), arrow (Parquet), sql (PostgreSQL DDL), "
        "bigquery (JSON schema, partitioning and clustering), bigquery-lake (external tables over a lake: "
        "needs --lake and --dataset)",
    )
    schema.add_argument("--lake", metavar="URI", help="bigquery-lake: the lake's folder (gs://bucket/lake)")
    schema.add_argument("--dataset", metavar="PROJECT:DATASET", help="bigquery-lake: where the tables go")
    schema.add_argument("tables", nargs="*", metavar="TABLE", help="tables to show (default: all)")

    report = commands.add_parser(
        "report",
        help="what a run or a lake holds: terminal summary and an HTML page with a map and a time line",
        description="Counts by table, events by family and type, an events map and a time line by event "
        "date, top actors and places, the duplicate ratio and dead letters by reason, read from an "
        "output folder on any Beam filesystem (Parquet, else JSON Lines; a whole lake too).",
    )
    report.add_argument(
        "output", nargs="?", default="output", help="the run's output folder or the lake (default: output)"
    )
    report.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with charts")
    report.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help="a lake's partitions from this date")
    report.add_argument("--until", type=_day, metavar="YYYY-MM-DD", help="... to this date, inclusive")
    report.add_argument("--run", metavar="RUN_ID", help="only the files this run wrote into the lake")
    return parser, {
        "run": run,
        "config": config,
        "eval": evaluate,
        "train": training,
        "schema": schema,
        "report": report,
    }


def _version() -> str:
    try:
        return metadata.version("newsbeam")
    except metadata.PackageNotFoundError:
        return "unknown"


def _settings(args: argparse.Namespace) -> Settings:
    overrides = list(args.overrides)
    if args.input:
        overrides.append(f"input.paths={json.dumps(args.input)}")
    if args.output:
        overrides.append(f"output.dir={json.dumps(args.output)}")
    if getattr(args, "max_duration", None):
        overrides.append(f"streaming.max_duration={args.max_duration}")
    return load_settings(args.config, overrides, args.feed)


def _day(text: str) -> date:
    """A --since/--until date, or argparse's one-line error."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _check_own_flags(extra: Sequence[str], parser: argparse.ArgumentParser) -> None:
    """A near-miss of one of newsbeam's own flags (--ouput) is a typo, not a Beam option."""
    own = [opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")]  # noqa
    for flag in extra:
        name = flag.split("=", 1)[0]
        if name.startswith("--") and name not in own:
            close = difflib.get_close_matches(name, own, n=1, cutoff=0.8)
            if close:
                raise ConfigError(f"unknown option '{name}' (did you mean '{close[0]}'?)")


def _command_run(args: argparse.Namespace, extra: Sequence[str], parser: argparse.ArgumentParser) -> int:
    _check_own_flags(extra, parser)
    settings = _settings(args)
    if args.postgres_dsn:
        settings = settings.model_copy(update={"postgres": settings.postgres.model_copy(update={"enabled": True})})
    require_input(settings)  # before the imports below, which take seconds
    from pipeline.monitoring import export
    from pipeline.prepare import prepare  # imports Beam and spaCy
    from pipeline.run import run

    job = prepare(settings, extra, args.postgres_dsn)
    families = {event_type.name: event_type.family for event_type in job.taxonomy.types}
    try:
        summary = run(job)
    except Exception:  # pylint: disable=broad-except  # reported with its traceback, exit 1
        _LOG.exception("the pipeline failed")
        export(settings.monitoring, None, families)
        return 1
    export(settings.monitoring, summary, families)
    print(summary.format())
    if not summary.balanced:
        _LOG.error("accounting does not balance: some documents are unaccounted for")
        return 1
    return 0


def _command_config(args: argparse.Namespace, extra: Sequence[str], parser: argparse.ArgumentParser) -> int:
    if args.reference:
        print(reference(), end="")
        return 0
    if args.builtin:
        print(builtin_file(*BUILTIN_FILES[args.builtin]).read_text(encoding="utf-8"), end="")
        return 0
    print(dump_settings(_settings(args)), end="")
    return 0


def _command_schema(args: argparse.Namespace, extra: Sequence[str], parser: argparse.ArgumentParser) -> int:
    from transforms.core.records import TABLES, TABLES_BY_NAME
    from transforms.core.schemas import bigquery_table, markdown, sql_ddl, table_arrow_schema

    unknown = [t for t in args.tables if t not in TABLES_BY_NAME]
    if unknown:
        raise ConfigError(f"unknown table '{unknown[0]}'; tables: {', '.join(TABLES_BY_NAME)}")
    tables = [TABLES_BY_NAME[t] for t in args.tables] or list(TABLES)
    if args.format == "markdown":
        print(markdown(tables), end="")
    elif args.format == "sql":
        print("\n\n".join(sql_ddl(table) for table in tables))
    elif args.format == "bigquery":
        print(json.dumps({table.name: bigquery_table(table) for table in tables}, indent=2))
    elif args.format == "bigquery-lake":
        from transforms.sinks.bigquery import external_table_sql

        if not (args.lake and args.dataset):
            raise ConfigError("schema --format bigquery-lake needs --lake URI and --dataset PROJECT:DATASET")
        print(";\n\n".join(external_table_sql(args.dataset, table, args.lake) for table in tables) + ";")
    else:
        for table in tables:
            print(f"{table.name}:\n{table_arrow_schema(table)}\n")
    return 0


def _command_report(args: argparse.Namespace, extra: Sequence[str], parser: argparse.ArgumentParser) -> int:
    from pipeline.report import ReportError, Selection, build, to_html, to_text

    try:
        report = build(args.output, Selection(since=args.since, until=args.until, run=args.run))
    except ReportError as exc:
        raise ConfigError(str(exc)) from None
    print(to_text(report), end="")
    if args.html:
        Path(args.html).write_text(to_html(report), encoding="utf-8")
        print(f"HTML report: {args.html}")
    return 0


def _command_eval(args: argparse.Namespace, extra: Sequence[str], parser: argparse.ArgumentParser) -> int:
    settings = load_settings(args.config, args.overrides)
    if args.what == "events":
        from pipeline.evaluate_events import evaluate_events, read_labelled

        labelled, level = read_labelled(args.path, args.level)
        report = evaluate_events(labelled, settings, level)
        print(
            f"{args.path}: {report.texts} texts, {report.gold_labels} gold labels, level {level}, "
            f"classifier {settings.events.classifier or 'none (rules alone)'}, threshold {settings.events.threshold}"
        )
        for line in report.lines():
            print(line)
        return 0
    from pipeline.evaluate import evaluate, read_records

    records = read_records(args.path)
    ner, found, sector = evaluate(records, settings.entities, settings.entities.actors)
    print(f"{args.path}: {len(records)} texts, {found.gold} gold actor mentions, {ner.gold} gold entity spans")
    if ner.gold:
        print(ner.line("NER (exact)"))
    print(f"{'actors found':<16} R {found.recall:.3f}   ({found.true} of {found.gold} gold actor mentions)")
    print(sector.line("actor sector"))
    return 0


def _command_train(args: argparse.Namespace, extra: Sequence[str], parser: argparse.ArgumentParser) -> int:
    from pipeline.train import train_events
    from transforms.events.taxonomy import load_taxonomy

    if args.folds < 2:
        raise ConfigError(f"--folds must be at least 2, not {args.folds}")
    settings = load_settings(args.config)
    train_events(
        Path(args.corpus),
        Path(args.out),
        load_taxonomy(settings.events.taxonomy),
        args.level,
        args.folds,
        args.c,
        lambda line: print(line, flush=True),
    )
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, Sequence[str], argparse.ArgumentParser], int]] = {
    "run": _command_run,
    "config": _command_config,
    "eval": _command_eval,
    "train": _command_train,
    "schema": _command_schema,
    "report": _command_report,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser, subparsers = _parser()
    args, extra = parser.parse_known_args(argv)
    subparser = subparsers[args.command]
    if extra and args.command != "run":
        subparser.error(f"unrecognized arguments: {' '.join(extra)}")
    _configure_logging(getattr(args, "verbose", 0) - getattr(args, "quiet", 0))
    try:
        return _COMMANDS[args.command](args, extra, subparser)
    except ConfigError as exc:
        print(f"newsbeam: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("newsbeam: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`newsbeam report | head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout at exit
        return 0
