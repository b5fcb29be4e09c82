"""Run the pipeline on this machine: TFX BeamDagRunner (or LocalDagRunner), SQLite MLMD,
Beam's DirectRunner, with one progress line per component."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

from absl import logging as absl_logging
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from tfx import v1 as tfx
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
from tfx.orchestration.portable import tfx_runner
from tfx.proto.orchestration import pipeline_pb2

from pipeline import beam_staging

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


def quiet_logs() -> None:
    """Keep the console to our progress lines: TFX logs pages per component at INFO, Beam
    and TensorFlow warn about things users cannot act on, and TFX pip-installs the user
    module wheel in a subprocess. `--verbose` skips this."""
    os.environ["PIP_QUIET"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    absl_logging.get_absl_handler().setLevel(logging.ERROR)
    logging.getLogger("absl").propagate = False
    for name in ("apache_beam", "tensorflow", "tensorflow_transform", "tfx_bsl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # TFMA divides by zero for thresholds where a confusion-matrix rate is undefined.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflow_model_analysis")


@contextlib.contextmanager
def _output_to_file_unless_failed():
    """Send this process's fds 1 and 2 (and its subprocesses') to a temporary file; show
    the file only when the block fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace")[-20000:])
            raise
        else:
            _restore(saved)


def _restore(saved: tuple[int, int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])


def compile_local(pipeline: tfx.dsl.Pipeline, quiet: bool) -> pipeline_pb2.Pipeline:
    """The pipeline IR. Compiling builds the module_file wheel with `setup.py bdist_wheel`
    in a subprocess that prints a page; quiet mode shows that page only on failure."""
    # _make_pipeline_proto is what TfxRunner.run() does before run_with_ir(): resolve the
    # user-module wheel dependencies and compile (TFX 1.16, pinned).
    if not quiet:
        return tfx_runner._make_pipeline_proto(pipeline)
    with _output_to_file_unless_failed():
        return tfx_runner._make_pipeline_proto(pipeline)


def disable_in_memory_state_cache() -> None:
    """No state cache in Beam's in-memory runner (what `--max_cache_memory_usage_mb=0`
    does for SDK workers, Beam's advice in apache/beam#30360). The in-memory worker
    hard-codes a 100 MB cache and reads no option; it weighs every side input it caches
    with objsize, which walks the globals of every loaded module (TensorFlow's thousands)
    on each read: 14 of Transform's 79 s on the default run here, 28 s of the whole run.
    In memory, reading a side input again costs nothing worth caching."""
    worker_handlers.STATE_CACHE_SIZE_MB = 0


def run(pipeline: tfx.dsl.Pipeline, runner: str = "beam", quiet: bool = True) -> ComponentProgress:
    """Run `pipeline` to the end; raises whatever a component raised."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; choose one of {RUNNERS}")
    disable_in_memory_state_cache()
    beam_staging.skip_tfx_sdist_on_direct_runner()
    ir = compile_local(pipeline, quiet)
    progress = ComponentProgress()
    absl_logging.set_verbosity(absl_logging.INFO)  # the progress lines are INFO records
    absl_logger = logging.getLogger("absl")
    absl_logger.addHandler(progress)
    try:
        if runner == "beam":
            BeamDagRunner().run_with_ir(ir)
        else:
            tfx.orchestration.LocalDagRunner().run_with_ir(ir)
    finally:
        absl_logger.removeHandler(progress)
    return progress


class RunLock:
    """One `rocket run` per output folder: a second one would corrupt the SQLite MLMD."""

    def __init__(self, output: Path):
        output.mkdir(parents=True, exist_ok=True)
        self.path = output / ".rocket-run.lock"
        self._handle = None

    def __enter__(self) -> RunLock:
        self._handle = self.path.open("w")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise RuntimeError(
                f"another `rocket run` is using {self.path.parent}; wait for it to finish "
                "or choose another --output"
            ) from None
        self._handle.write(str(os.getpid()))
        self._handle.flush()
        return self

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
