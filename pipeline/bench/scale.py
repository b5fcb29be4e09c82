"""The large-id-space part of `rocket bench`: Transform and Trainer at a real id count.

Why a part of its own: the other parts run on tens of thousands of generated rows, where
every vocabulary is small and everything fits in one process. What breaks first in
production is the id space: TFT's vocabulary pass over a million user ids, a Transform
spread over Beam workers, and a Trainer whose user table has a million rows (and Adam's
two slots of that shape). This part generates rows with exactly `users` distinct user ids
and `ads` distinct ad ids (pipeline.bench.scale_data) and measures:

- Transform: TFT analyze + transform with the project's preprocessing_fn and default
  config, as TFX's Transform runs it (read tf.Example TFRecords, analyze, read again and
  transform, write gzipped transformed tf.Examples and the transform graph), on Beam's
  DirectRunner in multi-processing mode with 1 and 2 workers: rows/s, the 2-over-1
  scaling ratio, peak memory of the process tree.
- Trainer: the rocket model with the table sizes of that Transform output, trained on it
  through the Trainer's own input path (rocket_data.make_dataset): examples/s after a
  warm-up, peak memory, and the embedding-memory estimate the Trainer prints.

Each Transform run and the training run is a fresh subprocess (`python -m
pipeline.bench.scale_worker transform|train ...`), so its Beam workers are its children
and its memory is its own; the parent (this module, which never imports the worker)
samples the RSS of the whole process tree with psutil.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import rocket_seed

from pipeline.bench.scale_data import RAW_PREFIX, generate, vocabulary_floor_sizes, write_examples
from pipeline.bench.settings import ScaleSettings

WORKER = "pipeline.bench.scale_worker"
RESULT_FILE = "result.json"
SAMPLE_SECONDS = 0.5
LOG = "[bench] scale:"


class TreeSampler:
    """A process and all its descendants, sampled every SAMPLE_SECONDS: the peak of their
    summed RSS (a page shared between processes counts once per process), and the CPU
    seconds they and the whole machine used, to tell how many cores the run got and how
    busy the other processes of a shared machine kept it."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self.peak_processes = 0
        self.samples = 0
        self._cpu: dict[int, float] = {}  # pid -> last seen user + system seconds
        self._machine_start = self._machine_busy()
        self._started = time.time()
        self.seconds = 0.0
        self.machine_busy_seconds = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _machine_busy() -> float:
        import psutil

        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of the tree (a process's last 0.5 s before it ends may be missed)."""
        return sum(self._cpu.values())

    def _sample(self) -> None:
        import psutil

        total, count = 0, 0
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                total += process.memory_info().rss
                cpu = process.cpu_times()
                self._cpu[process.pid] = cpu.user + cpu.system
                count += 1
            except psutil.Error:
                pass  # ended between the listing and the reading
        self.peak_bytes = max(self.peak_bytes, total)
        self.peak_processes = max(self.peak_processes, count)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.time() - self._started
        self.machine_busy_seconds = self._machine_busy() - self._machine_start


def _measured(args: list[str], workdir: Path, name: str) -> dict:
    """Runs one step in a fresh process, sampling its process tree; its result plus
    process wall seconds and peak memory."""
    result_path = workdir / f"{name}.{RESULT_FILE}"
    log_path = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        WORKER,
        *args,
        "--result",
        str(result_path),
    ]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.time()
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        with TreeSampler(process.pid) as sampler:
            code = process.wait()
    if code != 0:
        tail = log_path.read_text()[-1500:]
        raise RuntimeError(f"scale {name} failed with exit code {code}: {tail}")
    result = json.loads(result_path.read_text())
    result["process_seconds"] = round(time.time() - started, 2)
    result["peak_memory_mb"] = round(sampler.peak_bytes / 2**20, 1)
    result["peak_processes"] = sampler.peak_processes
    result["samples"] = sampler.samples
    # Average cores busy over the process's life: its own tree, and everything else.
    result["cores_used"] = round(sampler.cpu_seconds / sampler.seconds, 2)
    others = max(0.0, sampler.machine_busy_seconds - sampler.cpu_seconds)
    result["other_processes_cores"] = round(others / sampler.seconds, 2)
    result["log"] = log_path.read_text()
    return result


# The three trainings on the same Transform output: Adam (the seed's), EasyRec's
# lazy_adam_optimizer, and Adam with every table capped at small_table_rows rows.
TRAININGS = {
    "training": [],
    "training_lazy_adam": ["--optimizer", "lazy_adam"],
    "training_small_tables": ["--small-tables"],
}


def training_ratios(trainings: dict) -> dict:
    """examples/s of the large tables over the small tables' of the same run, per
    optimizer: what the table size costs each."""
    small = trainings["training_small_tables"]["examples_per_second"]
    return {
        "adam_over_small_tables": round(trainings["training"]["examples_per_second"] / small, 3),
        "lazy_over_small_tables": round(
            trainings["training_lazy_adam"]["examples_per_second"] / small, 3
        ),
    }


def run_scale(
    settings: ScaleSettings,
    log: Callable[[str], None] = print,
    workdir: Path | None = None,
) -> dict:
    """Generate, Transform with each worker count, train; the `scale` block."""

    settings.check()
    started = time.time()
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="rocket_scale_")) if own else workdir
    try:
        log(
            f"{LOG} generating {settings.rows:,} rows ({settings.users:,} users, "
            f"{settings.ads:,} ads)"
        )
        t0 = time.time()
        data = generate(settings)
        array_seconds = time.time() - t0
        paths = write_examples(data, workdir / "raw", settings.shards)
        generation_seconds = time.time() - t0
        threshold = rocket_seed.default_config().feature("user_id").frequency_threshold
        expected = vocabulary_floor_sizes(data, threshold)
        click_rate = float(data.clk.mean())
        raw_mb = sum(os.path.getsize(p) for p in paths) / 2**20
        del data
        log(f"{LOG} {len(paths)} gzipped shards, {raw_mb:.0f} MB ({generation_seconds:.0f}s)")

        transform = {}
        for workers in settings.workers:
            log(f"{LOG} Transform, DirectRunner multi_processing, {workers} worker(s) ...")
            run = _measured(
                [
                    "transform",
                    "--raw",
                    str(workdir / "raw" / f"{RAW_PREFIX}-*"),
                    "--output",
                    str(workdir / f"transform_{workers}"),
                    "--workers",
                    str(workers),
                ],
                workdir,
                f"transform_{workers}",
            )
            run.pop("log")
            run["rows_per_second"] = round(settings.rows / run["pipeline_seconds"], 1)
            transform[str(workers)] = run
            log(
                f"{LOG} {workers} worker(s): {run['pipeline_seconds']:.0f}s, "
                f"{run['rows_per_second']:,.0f} rows/s, peak {run['peak_memory_mb']:,.0f} MB, "
                f"{run['cores_used']} cores used ({run['other_processes_cores']} by others)"
            )
        rates = {k: v["rows_per_second"] for k, v in transform.items()}
        scaling = round(rates["2"] / rates["1"], 3) if "1" in rates and "2" in rates else None

        first = str(settings.workers[0])
        trainings = {}
        for name, extra in TRAININGS.items():
            log(f"{LOG} training ({name}) {settings.warmup_steps}+{settings.train_steps} steps")
            run = _measured(
                [
                    "train",
                    "--output",
                    str(workdir / f"transform_{first}"),
                    "--settings",
                    json.dumps(asdict(settings)),
                    *extra,
                ],
                workdir,
                name,
            )
            run.pop("log")
            trainings[name] = run
            log(
                f"{LOG} {name}: {run['examples_per_second']:,.0f} examples/s, peak "
                f"{run['peak_memory_mb']:,.0f} MB"
            )
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    vocab = transform[first]["vocabulary_sizes"]
    return {
        "settings": asdict(settings),
        "data": {
            "rows": settings.rows,
            "distinct_user_ids": settings.users,
            "distinct_ad_ids": settings.ads,
            "click_rate": round(click_rate, 4),
            "raw_mb": round(raw_mb, 1),
            "generation_seconds": round(generation_seconds, 1),
            "generation_arrays_seconds": round(array_seconds, 1),
            "frequency_threshold": threshold,
            "expected_vocabulary_sizes": expected,
        },
        "vocabulary_sizes": {k: vocab[k] for k in ("user_id", "adgroup_id")},
        "all_vocabulary_sizes": vocab,
        "transform": transform,
        "transform_scaling_2_over_1": scaling,
        "training": trainings["training"],
        "training_lazy_adam": trainings["training_lazy_adam"],
        "training_small_tables": trainings["training_small_tables"],
        **training_ratios(trainings),
        "wall_seconds": round(time.time() - started, 1),
        "note": (
            f"{os.cpu_count()} cores: the DirectRunner's workers share them with its "
            "runner process (which feeds them and does the shuffles of the vocabulary "
            "counts), so a 2-over-1 ratio of at most 2 is expected, and less in practice. "
            "The machine is shared: cores used is the CPU seconds of the run's process "
            "tree over its wall time, other processes' cores what the rest of the machine "
            "used meanwhile. rows/s = rows / seconds of the Beam pipeline (analysis pass, "
            "second read and transform, writes), without process start, imports and the "
            "count of the output; peak memory = summed RSS of the process tree (the Beam "
            f"workers are children), sampled every {SAMPLE_SECONDS} s. Every user id appears "
            f"{settings.rows // settings.users}x and every ad id "
            f"{settings.rows // settings.ads}x, so the frequency floor of {threshold} keeps "
            "all of them. Training: Transform output of the first run, "
            f"{settings.warmup_steps} warm-up steps, then {settings.train_steps} timed "
            f"steps of {settings.batch_size}, three times: Adam, lazy Adam, and Adam with "
            f"every table capped at {settings.small_table_rows:,} rows (ids folded in: the same "
            "batches and model, small tables)."
        ),
    }
