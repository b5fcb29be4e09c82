"""The suite's time budget holds (tests/suite_budget.py, issue 26): every `slow` and
`multiworker` test is in it, the budgeted modules fit WALL_SECONDS on two workers, and
`make test` runs them that way. Deterministic: counts and recorded figures, no timing."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import suite_budget
from conftest import COLLECTED
from suite_budget import Module, planned_wall_seconds

REPO = Path(__file__).resolve().parents[1]
HOW = (
    "tests/suite_budget.py lists every module holding slow or multiworker tests, with their "
    "count and the module's measured seconds: update its line in the same commit "
    "(CONTRIBUTING.md, Tests)"
)


def heavy_tests_per_module(config: pytest.Config) -> Counter:
    """{module: its slow or multiworker tests} of the whole suite: from this run's
    collection when it held every test module, else from a collection of tests/."""
    modules, heavy = config.stash[COLLECTED]
    every = {p.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("test_*.py")}
    if every <= modules:
        return heavy
    markers = " or ".join(suite_budget.HEAVY_MARKERS)
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", markers, "tests"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stdout[-3000:] + listing.stderr[-3000:]
    return Counter(line.split("::", 1)[0] for line in listing.stdout.splitlines() if "::" in line)


def test_every_slow_and_multiworker_test_is_in_the_budget(request):
    collected = heavy_tests_per_module(request.config)
    budgeted = {module: m.heavy_tests for module, m in suite_budget.MODULES.items()}
    assert dict(collected) == budgeted, HOW


def test_the_budgeted_suite_fits_its_wall_seconds_on_two_workers():
    planned = planned_wall_seconds()
    assert planned <= suite_budget.WALL_SECONDS, (
        f"tests/suite_budget.py plans {planned:.0f} s for make test, over its "
        f"{suite_budget.WALL_SECONDS} s: make a slow module cheaper (share its run through a "
        "module fixture, less data or steps) or raise WALL_SECONDS deliberately"
    )


def test_the_plan_puts_the_heaviest_modules_first_on_the_least_loaded_worker():
    modules = {name: Module(1, s) for name, s in (("a", 300), ("b", 200), ("c", 200), ("d", 100))}
    assert planned_wall_seconds(modules, other_seconds=0, workers=2) == 400  # a+d | b+c
    assert planned_wall_seconds(modules, other_seconds=400, workers=2) == 600  # evenly
    assert planned_wall_seconds({"a": Module(1, 900)}, other_seconds=100, workers=2) == 900


def test_make_test_runs_the_budgeted_way():
    """Two workers, a module per worker at a time, in the conftest's heaviest-first order;
    with pytest's list of the slowest tests and the skip reasons kept."""
    makefile = (REPO / "Makefile").read_text()
    xdist_flags = re.search(r"^PYTEST_XDIST := (.+)$", makefile, re.M).group(1)

    def recipe(target: str) -> str:
        line = re.search(rf"^{target}: setup\n\t(.+)$", makefile, re.M).group(1)
        return line.replace("$(PYTEST_XDIST)", xdist_flags)

    test, fast = recipe("test"), recipe("test-fast")
    xdist = f"-n {suite_budget.WORKERS} --dist loadfile --no-loadscope-reorder"
    for flag in ("-v", "-rs", "--durations=25", xdist):
        assert flag in test, (flag, test)
    assert xdist in fast and '-m "not slow"' in fast, fast
