"""Running `rocket run-package` from tests as a user would (a subprocess of the installed
CLI), and reading what the run recorded: shared by the end-to-end package tests
(test_run_package, test_object_store_packages, test_portable_beam)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROCKET = str(Path(sys.executable).with_name("rocket"))


def start_run(
    package: Path,
    backend: str,
    root: Path,
    *params: str,
    options: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Starts `rocket run-package PACKAGE --backend B --root ROOT [options] --param ...`;
    `env` is added to this process's environment."""
    argv = [ROCKET, "run-package", str(package), "--backend", backend, "--root", str(root)]
    argv += list(options)
    for param in params:
        argv += ["--param", param]
    return subprocess.Popen(
        argv,
        env={**os.environ, "TF_USE_LEGACY_KERAS": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def latest_record(root: Path) -> dict | None:
    """The run.json of the newest run under a run-package --root, or None."""
    runs = sorted((root / "runs").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text()) if runs else None


def finish_run(process: subprocess.Popen, root: Path):
    """(CompletedProcess, the run's run.json) of a started `rocket run-package`."""
    stdout, stderr = process.communicate(timeout=1800)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return result, latest_record(root)


def outputs_of(record: dict, task: str) -> dict:
    return next(t for t in record["tasks"] if t["name"] == task)["outputs"]


def artifact_uris(record: dict) -> list[str]:
    """The URI of every output artifact the run recorded, over all its tasks."""
    return [a["uri"] for t in record["tasks"] for listed in t["outputs"].values() for a in listed]


def example_gen_fingerprint(record: dict) -> str:
    """The input fingerprint ExampleGen recorded on its examples (the cache's key)."""
    return outputs_of(record, "EasyRecExampleGen")["examples"][0]["metadata"]["input_fingerprint"]
