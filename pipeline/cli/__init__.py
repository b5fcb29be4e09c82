"""`rocket` command line: run the pipeline locally, compile it for Kubeflow / Vertex AI,
submit a compiled package.

Exit codes: 0 the run completed (blessed and pushed, or rejected by the Evaluator: the
verdict is printed and in run_summary.json); 3 with --require-push, the run completed but
nothing was pushed; 1 an error (message on stderr); 2 bad command-line usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from components.object_store import ObjectStoreError
from pipeline.cli import bench, compile, convert_taobao, gcs, run, run_package, submit
from pipeline.cli.common import EXIT_ERROR, EXIT_NOT_BLESSED, EXIT_OK, EXIT_USAGE
from pipeline.errors import UsageError
from pipeline.package_run.backend_rules import PackageRunError

__all__ = ["EXIT_ERROR", "EXIT_NOT_BLESSED", "EXIT_OK", "EXIT_USAGE", "main"]

# One module per command; each adds its parser and sets its handler.
COMMANDS = (run, bench, compile, submit, run_package, convert_taobao, gcs)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rocket", description="Rocket Launching CTR model as a TFX pipeline."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _error_message(error: BaseException) -> str:
    """The most useful line: our own input errors even when Beam wrapped them."""
    seen = error
    while seen is not None:
        text = str(seen)
        for words in ("bad input row at ", "bad input header at ", "bad input file "):
            marker = text.find(words)
            if marker >= 0:
                return text[marker:].splitlines()[0].strip(" '\"")
        seen = seen.__cause__ or seen.__context__
    return f"{type(error).__name__}: {error}"


def _main(argv: list[str] | None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code in (0, None) else EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ERROR
    except PackageRunError as error:  # refused under the backend's rules
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except (UsageError, ObjectStoreError) as error:  # a bad option, file or path
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - the CLI reports every failure the same way
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"error: {_error_message(error)}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: list[str] | None = None) -> None:
    code = _main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # TFX/Beam have been seen to finish their work and then crash at interpreter exit
    # (SIGSEGV, code 139). Everything is written and flushed: leave without teardown so
    # the exit code is the run's.
    os._exit(code)
