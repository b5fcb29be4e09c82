"""Timing side by side: callables measured round-robin, so that each sees the same load
of a shared machine, and the statistics and ratios of those times."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def time_interleaved(
    calls: dict[str, Callable[[], Any]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per call of each callable, measured round-robin so that each sees the same
    machine load; the warm-up calls (tracing, first allocations) are not timed."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def latency_stats(seconds: list[float], batch: int) -> dict:
    array = np.asarray(seconds) * 1000.0
    median = float(np.median(array))
    return {
        "median_ms": round(median, 4),
        "p99_ms": round(float(np.percentile(array, 99)), 4),
        "examples_per_second": round(batch / (median / 1000.0), 1),
        "calls": int(array.size),
    }


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None
