"""The bench's quality at size: every variant on more generated rows, trained as the
Trainer trains (rocket_training.fit_model: validation rows held out of the train split,
checks, the best check's weights kept, early stop), so each variant ends at its own best
step instead of a step count that suits one of them.

At 50,000 rows the nets memorise ids long before they learn the generator's feature
crosses and a logistic regression wins; this part shows what the nets and distillation
do when the data holds enough of each cross (README: "Where Rocket Launching pays").
"""

from __future__ import annotations

import gc
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rocket_config
import rocket_seed

from pipeline import sample_data
from pipeline.bench import quality, report
from pipeline.bench.data import BenchData, _examples, analyze_and_transform, load_dataset
from pipeline.bench.settings import (
    BOOSTER_ALONE,
    LIGHT_ALONE,
    LINEAR,
    LINEAR_VARIANT,
    ROCKET,
)
from pipeline.bench.targets import target
from pipeline.settings import EVAL_FRACTION

KEY = "quality_at_size"  # its key in benchmark.json
# The variants of the quality block, in its order: (kind, model options).
VARIANTS = {
    LIGHT_ALONE: (LIGHT_ALONE, {}),
    ROCKET: (ROCKET, {}),
    BOOSTER_ALONE: (BOOSTER_ALONE, {}),
    LINEAR: LINEAR_VARIANT,
}


@dataclass(frozen=True)
class AtSizeSettings:
    """Rows of generated data, seeds, and the training budget in epochs of the train
    rows left after the validation hold-out."""

    # The datasets are held in memory: 300,000 rows ran beside the test suite (4.5 GB
    # resident when sampled during training); 1,000,000 rows passed 20 GB once training
    # began and did not fit in 24 GB (measured 2026-11-29).
    rows: int = 300_000
    seeds: int = 3
    max_epochs: float = 4.0
    checks_per_epoch: int = 4  # validation checks; early stop after an epoch without gain
    batch_size: int = 512
    eval_fraction: float = EVAL_FRACTION
    # Rows shuffled together. The generated rows are already in random order; a buffer
    # of all 800,000 sparse rows held 9 GB more and the process was killed for memory.
    shuffle_buffer: int = 100_000


def training_budget(train_rows: int, settings: AtSizeSettings, train) -> tuple[int, int, int]:
    """(at most this many steps, a validation check every this many steps, the steps of
    one epoch: the early stop's patience). An epoch of patience, not three checks: the
    first checks catch every net in its bias-fitting transient, which a few checks of
    patience mistake for its best."""
    kept_rows = train_rows * (1 - train.validation_fraction)
    epoch = max(1, math.ceil(kept_rows / settings.batch_size))
    every = max(1, math.ceil(epoch / settings.checks_per_epoch))
    return math.ceil(settings.max_epochs * epoch / every) * every, every, epoch


def variant_config(base, kind: str, seed: int, settings: AtSizeSettings, train_rows: int,
                   **model):  # fmt: skip
    """The bench's variant config with the Trainer's validation, keep and early stop."""
    config = quality.variant_config(base, kind, seed, 1, settings.batch_size, **model)
    steps, every, epoch = training_budget(train_rows, settings, config.train)
    return rocket_config.with_changes(
        config,
        **{
            "train.train_steps": steps,
            "train.eval_every_steps": every,
            "train.max_check_steps": epoch,
            "train.log_every_steps": every,
        },
    )


def datasets(data: BenchData, train, shuffle_buffer: int):
    """The Trainer's two training inputs from in-memory rows: shuffled, repeated train
    batches without the validation rows, and the validation rows (rocket_data's
    row-content split: the same rows whatever the order)."""
    import rocket_data
    import tensorflow as tf

    n = int(data.train_labels.shape[0])
    rows = tf.data.Dataset.from_tensor_slices((data.train_features, data.train_labels))
    buffer = min(n, shuffle_buffer)
    shuffled = rows.shuffle(buffer, seed=train.seed, reshuffle_each_iteration=True).repeat()
    fraction = train.validation_fraction
    train_dataset = rocket_data.split_rows(
        shuffled.batch(train.batch_size), fraction, validation=False
    ).rebatch(train.batch_size, drop_remainder=True)
    validation = rocket_data.split_rows(
        rows.batch(train.eval_batch_size), fraction, validation=True
    )
    return train_dataset.prefetch(2), validation.rebatch(train.eval_batch_size).cache()


def train_variant(data: BenchData, config, shuffle_buffer: int) -> tuple[object, dict]:
    """One model trained by the Trainer's loop; returns it and what training kept."""
    import rocket_training
    import tensorflow as tf
    from rocket_distribution import WorkerRole

    train_dataset, validation = datasets(data, config.train, shuffle_buffer)
    sizes = rocket_training.table_sizes(config, data.tft_output)
    return rocket_training.fit_model(
        config, sizes, train_dataset, validation, config.train.train_steps,
        tf.distribute.get_strategy(), WorkerRole(), prefix="[bench]",
    )  # fmt: skip


def load(settings: AtSizeSettings, base, workdir: Path, log: Callable[[str], None]):
    """The generated rows, split like the bench's main data and analysed by TFT."""
    started = time.time()
    rows = sample_data.generate_rows(settings.rows, seed=0)
    lines = [("generated", i + 1, r.encode()) for i, r in enumerate(rows)]
    del rows
    data = load_dataset(
        "generated_at_size",
        f"pipeline.sample_data, {settings.rows} rows, seed 0",
        _examples(lines, base),
        settings.eval_fraction,
        False,
    )
    del lines
    analyze_and_transform(data, base, workdir)
    gc.collect()  # the Beam pipeline's garbage, before the training datasets are built
    log(
        f"[bench] {settings.rows:,} generated rows split and analysed: "
        f"{len(data.train_examples):,} train / {len(data.eval_examples):,} eval "
        f"({time.time() - started:.0f}s)"
    )
    return data


def measure(settings: AtSizeSettings, log: Callable[[str], None] = print) -> dict:
    """Every variant over the seeds; the quality block with each run's kept step."""
    import rocket_model

    base = rocket_seed.default_config()
    workdir = Path(tempfile.mkdtemp(prefix="rocket_bench_size_"))
    try:
        data = load(settings, base, workdir, log)
        train_rows = len(data.train_examples)
        seeds = list(range(settings.seeds))
        scores: dict[str, dict[str, list[float]]] = {}
        runs: dict[str, list[dict]] = {}
        for seed in seeds:
            for name, (kind, options) in VARIANTS.items():
                started = time.time()
                config = variant_config(base, kind, seed, settings, train_rows, **options)
                model, training = train_variant(data, config, settings.shuffle_buffer)
                quality.score_nets(model, name, kind, data, scores)
                runs.setdefault(name, []).append(
                    {
                        "seed": seed,
                        "exported_step": training["exported_step"],
                        "stopped_at_step": training["stopped_at_step"],
                        "best_validation_auc": training.get(
                            f"best_validation_auc_{rocket_model.served_net(config.model)}"
                        ),
                        "seconds": round(time.time() - started, 1),
                    }
                )
                log(
                    f"[bench] at size: {name} seed {seed}: AUC {scores[name]['auc'][-1]:.4f}, "
                    f"kept step {training['exported_step']} of {training['stopped_at_step']} "
                    f"({time.time() - started:.0f}s)"
                )
        steps, every, _ = training_budget(train_rows, settings, base.train)
        return block(data, settings, seeds, scores, runs, steps, every)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def block(data, settings: AtSizeSettings, seeds: list[int], scores: dict, runs: dict,
          steps: int, every: int) -> dict:  # fmt: skip
    """The part's JSON: the bench's quality block plus the training regime, each run's
    kept step, gap_closed per seed and the targets."""
    variants = {
        name: {"auc": quality.spread(v["auc"]), "gauc": quality.spread(v["gauc"])}
        for name, v in scores.items()
    }
    part = quality._quality_block(data, seeds, steps, settings.batch_size, variants)
    part["training"] = (
        f"the Trainer's loop: 10% of the train rows held out for validation, a check every "
        f"{every} steps ({settings.checks_per_epoch} per epoch), the best check's weights "
        f"kept, early stop after an epoch without a better validation AUC of the served "
        f"net, at most {steps} steps ({settings.max_epochs:g} epochs)"
    )
    part["runs"] = runs
    for metric in ("auc", "gauc"):
        part["gap_closed"][metric]["per_seed"] = per_seed_gap(scores, metric)
    part["targets"] = targets(part)
    return part


def per_seed_gap(scores: dict, metric: str) -> dict:
    """gap_closed of each seed's three runs (same seed: same initialisation and batches);
    a seed whose booster alone is not better than its light alone has none."""
    light = scores[LIGHT_ALONE][metric]
    rocket = scores[ROCKET][metric]
    booster = scores[BOOSTER_ALONE][metric]
    values = [(r - lt) / (b - lt) if b > lt else None for lt, r, b in zip(light, rocket, booster)]
    defined = [v for v in values if v is not None]
    return {
        "values": [None if v is None else round(v, 4) for v in values],
        "spread": quality.spread(defined) if defined else None,
    }


def targets(part: dict) -> list[dict]:
    variants = part["variants"]
    light, linear = variants[ROCKET]["auc"], variants[LINEAR]["auc"]
    gap = part["gap_closed"]["auc"]
    return [
        target(
            "rocket light AUC − linear AUC (generated_at_size)",
            round(light["mean"] - linear["mean"], 5),
            ">",
            max(light["std"], linear["std"]),
            "beyond the seeds' spread (the larger std of the two)",
        ),
        target(
            "gap_closed (generated_at_size, AUC)", gap["value"], ">=", 0.6, gap["why_null"] or ""
        ),
    ]


def lines(part: dict) -> list[str]:
    """benchmark.md's section of this part."""
    out = report.quality_lines({"generated_at_size": part})
    out[0] = "## Quality at size (eval split; mean ± std over seeds)"
    steps = f"{part['train_steps']} steps of"
    out = [line.replace(steps, f"at most {steps}") for line in out]
    out += ["", f"Training: {part['training']}.", "", "| variant | seed | kept step | "
            "stopped at | seconds |", "|---|---|---|---|---|"]  # fmt: skip
    for name, runs in part["runs"].items():
        for run in runs:
            out.append(
                f"| {name} | {run['seed']} | {run['exported_step']} | "
                f"{run['stopped_at_step']} | {run['seconds']} |"
            )
    for metric in ("auc", "gauc"):
        per_seed = part["gap_closed"][metric]["per_seed"]
        values = ", ".join("null" if v is None else f"{v:.3f}" for v in per_seed["values"])
        out.append(f"\ngap_closed per seed ({metric.upper()}): {values}")
    return out + report.targets_lines({KEY: part}, (KEY,))
