"""The `rocket run` parts: wall time per component of a default run (`pipeline`) and of
a run at size (`pipeline_at_size`), each in a subprocess of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.bench.settings import BenchSettings

# The steps that evaluate: the one that fetches the served baseline and the Evaluator
# (light candidate, served baseline and booster in one pass).
EVALUATION_COMPONENTS = ("ServedModelBaseline", "Evaluator")


def measure_pipeline(settings: BenchSettings, output: Path, log: Callable[[str], None]) -> dict:
    """Wall time per component of a `rocket run` in a subprocess (its own process: Beam
    and TFX state must not leak into the other parts' measurements)."""
    if settings.pipeline_args is None:
        return {"skipped": "no pipeline run in this configuration", "note": settings.pipeline_note}
    return run_pipeline(settings.pipeline_args, settings.pipeline_note, output, "pipeline_run", log)


def measure_pipeline_at_size(
    settings: BenchSettings, output: Path, log: Callable[[str], None]
) -> dict | None:
    """`rocket run` at size (AT_SIZE_ARGS), with evaluation_over_trainer_time."""
    if settings.pipeline_at_size_args is None:
        return None
    args = settings.pipeline_at_size_args
    note = f"`rocket run {' '.join(args)}`: the Trainer's work is fixed by the step count"
    block = run_pipeline(args, note, output, "pipeline_at_size_run", log)
    block["evaluation_over_trainer_time"] = evaluation_over_trainer_time(block["component_seconds"])
    return block


def evaluation_over_trainer_time(component_seconds: dict) -> float | None:
    """Seconds of every evaluating step over the Trainer's."""
    trainer = component_seconds.get("Trainer")
    if not trainer:
        return None
    evaluation = sum(component_seconds.get(name, 0.0) for name in EVALUATION_COMPONENTS)
    return round(evaluation / trainer, 3)


def run_pipeline(
    args: tuple[str, ...],
    note: str,
    output: Path,
    name: str,
    log: Callable[[str], None],
    checkout: Path | None = None,
) -> dict:
    """A `rocket run` in a subprocess: of this checkout, or with `checkout` of another one
    (its `pipeline` package and module folder first on the path, this environment's
    packages)."""
    run_dir = output / name
    env = None
    if checkout is not None:
        paths = [str(checkout), str(checkout / "model_code")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "run",
        "--output",
        str(run_dir),
        "--no-cache",
        *args,
    ]
    log(f"[bench] pipeline: {' '.join(command[2:])}")
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, cwd=checkout, env=env)
    wall = time.time() - started
    log_path = output / f"{name}.log"
    log_path.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(
            f"`rocket run` failed with exit code {result.returncode}; see "
            f"{log_path}: {result.stderr.strip()[-500:]}"
        )
    summary = json.loads((run_dir / "run_summary.json").read_text())
    return pipeline_block(summary, note, " ".join(["rocket", *command[3:]]), wall)


def pipeline_block(summary: dict, note: str, command: str, wall: float) -> dict:
    """The pipeline part from a run_summary.json."""
    return {
        "command": command,
        "note": note,
        "component_seconds": summary["component_seconds"],
        "wall_seconds": summary.get("wall_seconds"),
        "process_seconds": round(wall, 1),
        "train_rows": summary.get("train_rows"),
        "eval_rows": summary.get("eval_rows"),
        "light_auc": summary.get("light_auc"),
        "booster_auc": summary.get("booster_auc"),
    }
