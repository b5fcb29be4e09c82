"""Run the pipeline on this machine: TFX BeamDagRunner (or LocalDagRunner), SQLite MLMD,
Beam's DirectRunner, with one progress line per component."""

from __future__ import annotations

import logging
import re
import time

from absl import logging as absl_logging
from tfx import v1 as tfx
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

RUNNERS = ("beam", "local")
_RUNNING = re.compile(r"node (\S+) is running\.")
_FINISHED = re.compile(r"node (\S+) is finished\.")
_CACHED = re.compile(r"A cached execution (\d+) is used\.")


class ComponentProgress(logging.Handler):
    """Turns TFX's orchestration log records into `[Component] ...` lines and timings."""

    def __init__(self, printer=print):
        super().__init__(level=logging.INFO)
        self.printer = printer
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.reused: list[str] = []
        self._current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a log record must never break the run
            return
        if match := _RUNNING.search(message):
            node = match.group(1)
            self._current = node
            self.started[node] = time.time()
            self.printer(f"[{node}] running ...", flush=True)
        elif match := _FINISHED.search(message):
            node = match.group(1)
            self.seconds[node] = round(time.time() - self.started.get(node, time.time()), 1)
            note = " (reused from cache)" if node in self.reused else ""
            self.printer(f"[{node}] done in {self.seconds[node]:.1f}s{note}", flush=True)
        elif _CACHED.search(message) and self._current:
            self.reused.append(self._current)


def run(pipeline: tfx.dsl.Pipeline, runner: str = "beam", verbose: bool = False) -> ComponentProgress:
    """Run `pipeline` to the end; raises whatever a component raised."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; choose one of {RUNNERS}")
    progress = ComponentProgress()
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger = logging.getLogger("absl")
    absl_logger.addHandler(progress)
    propagate = absl_logger.propagate
    if not verbose:  # TFX logs pages per component at INFO: keep only our progress lines
        absl_logging.get_absl_handler().setLevel(logging.WARNING)
        absl_logger.propagate = False
    try:
        if runner == "beam":
            BeamDagRunner().run(pipeline)
        else:
            tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        absl_logger.removeHandler(progress)
        absl_logger.propagate = propagate
    return progress
