"""Beam pipeline options: the config's `beam:` mapping, then flags from the command line.

Flags on the command line come last, so they win (argparse keeps the last value). Unknown flags
and unknown runners are configuration errors here, before anything runs, instead of Beam's
warning-and-continue.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
from collections.abc import Iterable
from typing import Any

from apache_beam.options.pipeline_options import (
    PipelineOptions,
    StandardOptions,
    _BeamArgumentParser,  # pylint: disable=protected-access
)

from transforms.core.settings import ConfigError

DEFAULT_RUNNER = "FnApiRunner"


def config_flags(beam_settings: dict[str, Any]) -> list[str]:
    """`{runner: X, direct_num_workers: 2, experiments: [a, b], save_main_session: true}` as flags."""
    flags: list[str] = []
    for name, value in beam_settings.items():
        flag = f"--{name}"
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            flags.extend(f"{flag}={item}" for item in value)
        else:
            flags.append(f"{flag}={value}")
    return flags


def _all_option_parser() -> argparse.ArgumentParser:
    # Beam declares its options per PipelineOptions subclass; collect them exactly as
    # PipelineOptions.get_all_options does, to tell unknown flags from known ones.
    parser = _BeamArgumentParser(allow_abbrev=False)
    subset: dict[str, type] = {}
    for cls in PipelineOptions.__subclasses__():
        subset.setdefault(str(cls), cls)
    for cls in subset.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    return parser


def _check_runner(name: str) -> None:
    """Known runner name, or an importable module.Class (importing it registers its options)."""
    known = {n.lower(): n for n in StandardOptions.KNOWN_RUNNER_NAMES}
    if name.lower() in known or f"{name.lower()}runner" in known:
        return
    if "." in name:
        module, _, cls = name.rpartition(".")
        try:
            if hasattr(importlib.import_module(module), cls):
                return
        except ImportError as exc:
            raise ConfigError(f"runner '{name}' cannot be imported: {exc}") from None
        raise ConfigError(f"runner '{name}': module {module} has no {cls}")
    full = name if name.lower().endswith("runner") else f"{name}Runner"
    hint = difflib.get_close_matches(full, known.values(), n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    raise ConfigError(
        f"unknown runner '{name}'{suggestion}; use one of {', '.join(sorted(known.values()))} or a module.Class path"
    )


def pipeline_options(beam_settings: dict[str, Any], cli_flags: Iterable[str]) -> PipelineOptions:
    """Validated PipelineOptions from the config's `beam:` mapping and the command-line flags."""
    flags = config_flags(beam_settings) + list(cli_flags)
    runner_parser = argparse.ArgumentParser(add_help=False)
    runner_parser.add_argument("--runner", default=DEFAULT_RUNNER)
    runner = runner_parser.parse_known_args(flags)[0].runner
    _check_runner(runner)
    parser = _all_option_parser()
    _, unknown = parser.parse_known_args(flags)
    if unknown:
        bad = next((f for f in unknown if f.startswith("-")), unknown[0])
        name = bad.split("=", 1)[0]
        known = [opt for action in parser._actions for opt in action.option_strings]  # pylint: disable=protected-access
        hint = difflib.get_close_matches(name, known, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConfigError(f"unknown pipeline option '{bad}'{suggestion}")
    options = PipelineOptions(flags)
    options.view_as(StandardOptions).runner = runner
    return options
