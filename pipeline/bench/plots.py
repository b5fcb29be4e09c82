"""The two PNG plots of `rocket bench`: AUC against serving latency over the light-net
sweep, and serving latency against batch size."""

from __future__ import annotations

from pathlib import Path

from pipeline.bench.settings import BOOSTER_ALONE, LIGHT_ALONE


def plot_quality_vs_latency(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = result["sweep"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    points = [p for p in sweep["points"] if p["latency_ms_b512"] is not None]
    ax.errorbar(
        [p["latency_ms_b512"] for p in points],
        [p["auc"]["mean"] for p in points],
        yerr=[p["auc"]["std"] for p in points],
        marker="o",
        capsize=3,
        label="rocket launching, light net",
    )
    for p in points:
        ax.annotate(p["name"].removeprefix("light_"), (p["latency_ms_b512"], p["auc"]["mean"]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)  # fmt: skip
    for name, marker in ((BOOSTER_ALONE, "s"), (LIGHT_ALONE, "^")):
        entry = sweep[name]
        if entry["latency_ms_b512"] is not None:
            ax.errorbar(
                [entry["latency_ms_b512"]],
                [entry["auc"]["mean"]],
                yerr=[entry["auc"]["std"]],
                marker=marker,
                linestyle="none",
                capsize=3,
                label=name.replace("_", " "),
            )
    batch = result["serving"]["largest_batch"]
    ax.set_xlabel(f"serving latency, median ms per batch of {batch}")
    ax.set_ylabel("eval AUC (mean ± std over seeds)")
    ax.set_title("Light-net sweep: AUC against serving latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency_vs_batch(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = result["serving"]["batches"]
    sizes = sorted(batches, key=int)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    # "served": the light net blended with the linear baseline, what the Trainer pushes
    # (timed since 2026-12-07).
    names = [n for n in ("light", "served", "booster", "parse_floor") if n in batches[sizes[0]]]
    for name in names:
        ax.plot(
            [int(s) for s in sizes],
            [batches[s][name]["median_ms"] for s in sizes],
            marker="o",
            label=name.replace("_", " "),
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (serialized tf.Examples)")
    ax.set_ylabel("median latency, ms")
    ax.set_title("Serving latency against batch size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
