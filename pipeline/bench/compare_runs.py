"""`rocket bench --only size --compare-with REF`: the default `rocket run` of this
checkout and of an earlier commit, interleaved in one bench run on the same machine, and
the ratio new/old of the wall time and of each component's seconds. The machine is
shared: a time alone says little, two codes measured side by side say how they compare.

The earlier commit runs from a `git worktree` of this repository (detached, removed at
the end) with this checkout's Python environment: commits whose dependencies differ from
the installed ones cannot be compared this way, and the error says so."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pipeline.bench.pipeline_runs import run_pipeline
from pipeline.bench.settings import BenchError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PLOT_FILE = "size_comparison.png"


def git(*args: str, cwd: Path = PROJECT_ROOT) -> str:
    """stdout of a git command in the repository; BenchError naming it when it fails."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def order_of(round_index: int) -> tuple[str, str]:
    """Which code runs first in a round: old first in even rounds, new first in odd ones,
    so that a machine that grows busier (or quieter) during the bench favours neither."""
    return ("old", "new") if round_index % 2 == 0 else ("new", "old")


def medians(runs: list[dict]) -> dict:
    """Median wall and per-component seconds over the runs of one code."""
    components = {name for run in runs for name in run["component_seconds"]}
    return {
        "wall_seconds": round(statistics.median(r["wall_seconds"] for r in runs), 1),
        "component_seconds": {
            name: round(statistics.median(r["component_seconds"].get(name, 0.0) for r in runs), 1)
            for name in sorted(components)
        },
        "light_auc": [r["light_auc"] for r in runs],
        "booster_auc": [r["booster_auc"] for r in runs],
    }


def ratios(old: dict, new: dict) -> dict:
    """new / old of the wall time and of each component that took a second or more."""
    result = {"wall": round(new["wall_seconds"] / old["wall_seconds"], 3)}
    for name, seconds in old["component_seconds"].items():
        if seconds >= 1.0 and name in new["component_seconds"]:
            result[name] = round(new["component_seconds"][name] / seconds, 3)
    return result


def compare_default_runs(
    ref: str,
    args: tuple[str, ...],
    rounds: int,
    output: Path,
    log: Callable[[str], None],
) -> dict:
    """`rounds` default runs of each code, interleaved; the comparison block of the JSON."""
    if rounds < 1:
        raise BenchError(f"--compare-rounds {rounds}: must be 1 or more")
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    head = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="rocket-compare-") as scratch:
        tree = Path(scratch) / "old"
        git("worktree", "add", "--detach", str(tree), commit)
        try:
            roots = {"old": tree, "new": PROJECT_ROOT}
            for index in range(rounds):
                for code in order_of(index):
                    log(f"[bench] round {index + 1}/{rounds}: {code} code ({roots[code]})")
                    runs[code].append(
                        run_pipeline(
                            args,
                            f"{code} code",
                            output,
                            f"{code}_run_{index + 1}",
                            log,
                            checkout=roots[code],
                        )
                    )
        finally:
            git("worktree", "remove", "--force", str(tree))
    old, new = medians(runs["old"]), medians(runs["new"])
    block = {
        "old": {"ref": ref, "commit": commit, **old},
        "new": {"commit": head, "uncommitted_changes": dirty, **new},
        "rounds": rounds,
        "order": "old first in odd rounds, new first in even ones",
        "ratio_new_over_old": ratios(old, new),
        "runs": runs,
    }
    plot_comparison(block, output / PLOT_FILE)
    return block


def comparison_lines(block: dict) -> list[str]:
    """The comparison table of benchmark.md."""
    old, new = block["old"], block["new"]
    new_name = new["commit"][:7] + (" + uncommitted changes" if new["uncommitted_changes"] else "")
    lines = [
        f"Default `rocket run`, {block['rounds']} round(s) of each code, interleaved "
        f"({block['order']}); medians in seconds. Old: `{old['ref']}` ({old['commit'][:7]}); "
        f"new: {new_name}. Plot: `{PLOT_FILE}`.",
        "",
        "| component | old | new | new / old |",
        "|---|---|---|---|",
    ]
    ratio = block["ratio_new_over_old"]
    for name, seconds in old["component_seconds"].items():
        if name in ratio:
            after = new["component_seconds"][name]
            lines.append(f"| {name} | {seconds} | {after} | {ratio[name]} |")
    walls = f"{old['wall_seconds']} | {new['wall_seconds']}"
    lines.append(f"| **wall** | {walls} | **{ratio['wall']}** |")
    lines += [
        "",
        f"light AUC old {old['light_auc']}, new {new['light_auc']}; booster AUC old "
        f"{old['booster_auc']}, new {new['booster_auc']}.",
    ]
    return lines


def plot_comparison(block: dict, path: Path) -> None:
    """Bars of each component's median seconds, old beside new."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in block["old"]["component_seconds"] if n in block["ratio_new_over_old"]]
    names.append("wall")
    old = [block["old"]["component_seconds"].get(n, block["old"]["wall_seconds"]) for n in names]
    new = [block["new"]["component_seconds"].get(n, block["new"]["wall_seconds"]) for n in names]
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], old, width=0.4, label=f"old ({block['old']['ref']})")
    ax.bar([p + 0.2 for p in positions], new, width=0.4, label="new")
    ax.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("seconds (median over rounds)")
    ax.set_title(f"Default rocket run: new / old wall = {block['ratio_new_over_old']['wall']}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
