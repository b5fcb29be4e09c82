"""Command-line values that cannot mean anything are usage errors (exit 2) before any work."""

import argparse

import pytest

from pipeline import cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # Before: --rows 0 silently generated the default 50,000 rows (`args.rows or ...`).
        (["run", "--rows", "0"], "argument --rows: 0: must be 1 or more"),
        (["run", "--rows", "-3"], "argument --rows: -3: must be 1 or more"),
        (["run", "--train-steps", "0"], "argument --train-steps: 0: must be 1 or more"),
        (["run", "--batch-size", "x"], "argument --batch-size: 'x' is not an integer"),
        (["run", "--max-bad-rows", "-1"], "argument --max-bad-rows: -1: must be 0 or more"),
        (["compile", "--batch-size", "0"], "argument --batch-size: 0: must be 1 or more"),
        # Before: --eval-fraction 0 generated 50,000 rows, then failed with a ValueError;
        # --min-auc 2 ran the whole pipeline, which could never bless.
        (["run", "--eval-fraction", "0"], "--eval-fraction: 0: must be between 0 and 1, exclusive"),
        (["run", "--eval-fraction", "nan"], "--eval-fraction: nan: must be between 0 and 1"),
        (["compile", "--eval-fraction", "1"], "--eval-fraction: 1: must be between 0 and 1"),
        (["run", "--min-auc", "2"], "argument --min-auc: 2: must be between 0 and 1"),
        (["compile", "--min-auc", "x"], "argument --min-auc: 'x' is not a number"),
        (["run", "--max-auc-drop", "-0.1"], "--max-auc-drop: -0.1: must be between 0 and 1"),
        (["compile", "--max-auc-drop", "2"], "--max-auc-drop: 2: must be between 0 and 1"),
        (["compile", "--max-bad-rows", "-1"], "argument --max-bad-rows: -1: must be 0 or more"),
        (
            ["compile", "--min-lift-over-linear", "x"],
            "argument --min-lift-over-linear: 'x' is not a number",
        ),
        (["compile", "--min-class-examples", "-1"], "--min-class-examples: -1: must be 0 or"),
        (["run", "--tune", "0"], "argument --tune: 0: must be 1 or more"),
        (
            ["run", "--tune", "--fixed-steps"],
            "--tune: trials are scored on validation rows, and --fixed-steps holds none out",
        ),
    ],
)
def test_meaningless_counts_are_usage_errors(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert cli._main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing generated, no output folder


# `rocket run` options that mean nothing in a compiled package: the generated sample, the
# local orchestrator, the exit code and log level of this process.
RUN_ONLY = {"--rows", "--seed", "--runner", "--require-push", "--verbose"}
# In both, with a meaning of their own: a local folder / a package file, the data to read
# (required by compile), the local cache / KFP's step cache.
OWN_MEANING = {"--output", "--data", "--no-cache"}
PROBES = ("-1", "0", "0.005", "0.5", "1", "2", "7", "nan", "inf", "x", "")


def _options(command: str) -> dict[str, argparse.Action]:
    parser = cli._build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {
        name: action
        for action in commands.choices[command]._actions
        for name in action.option_strings
        if name.startswith("--") and name != "--help"
    }


def _check(action: argparse.Action, text: str) -> str:
    try:
        return repr(action.type(text) if action.type else text)
    except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
        return f"refused: {error}"


def test_compile_takes_every_run_option_with_the_same_default_and_check():
    """The two option lists cannot drift apart: each `rocket run` option that means
    something on a cluster is a `rocket compile` option with the same name, default, check
    and form (pipeline/cli/common.py defines them once)."""
    run, compile_ = _options("run"), _options("compile")
    missing = set(run) - set(compile_) - RUN_ONLY
    assert not missing, f"rocket compile lacks {sorted(missing)}"
    for name in sorted(set(run) - RUN_ONLY - OWN_MEANING):
        ours, theirs = run[name], compile_[name]
        for field in ("dest", "default", "nargs", "const", "choices", "metavar"):
            assert getattr(ours, field) == getattr(theirs, field), (name, field)
        assert type(ours) is type(theirs), name
        for text in PROBES:
            assert _check(ours, text) == _check(theirs, text), (name, text)
    assert {"--max-auc-drop", "--max-bad-rows", "--min-lift-over-linear"} <= set(compile_)


def test_every_command_has_its_handler_function():
    """One module per command (pipeline/cli/): each sets a handler function on its parser."""
    import types

    parser = cli._build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == {
        "run", "bench", "compile", "submit", "run-package", "convert-taobao",
        "upload-data", "download",
    }  # fmt: skip
    for name, subparser in commands.choices.items():
        handler = subparser.get_default("handler")
        assert isinstance(handler, types.FunctionType), name
        assert handler.__module__.startswith("pipeline.cli."), name


def test_every_beam_runner_choice_is_a_runner_of_beams_python_sdk():
    """`rocket compile --beam-runner` offers Beam's own names, which Beam resolves to the
    runner of that name (apache_beam/runners/runner.py; DirectRunner to the
    SwitchingDirectRunner)."""
    from apache_beam.runners.runner import create_runner

    choices = _options("compile")["--beam-runner"].choices
    assert set(choices) == {
        "DirectRunner", "DataflowRunner", "PortableRunner", "FlinkRunner", "SparkRunner",
    }  # fmt: skip
    for name in choices:
        assert type(create_runner(name)).__name__ in (name, f"Switching{name}")
