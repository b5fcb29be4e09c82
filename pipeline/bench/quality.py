"""The quality part: every model variant (light alone, rocket, booster alone, linear,
the full mode's ablations) trained over the seeds on the same batches, AUC and GAUC on
the eval split, gap_closed and the quality targets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.bench.data import BenchData, load_real
from pipeline.bench.settings import (
    BOOSTER_ALONE,
    LIGHT_ALONE,
    LINEAR,
    LINEAR_VARIANT,
    ROCKET,
    BenchSettings,
)
from pipeline.bench.targets import quality_targets


def variant_config(base, variant: str, seed: int, steps: int, batch_size: int,
                   train_rows: int, **model):  # fmt: skip
    """The RocketConfig of one variant: same embeddings, share tower, optimizer and steps;
    only which nets train (and the named model options) differ. What the product chooses
    from the row count is chosen from `train_rows`, as the Trainer does."""
    import rocket_config

    nets = {LIGHT_ALONE: "light", ROCKET: "both", BOOSTER_ALONE: "booster", LINEAR: "light"}[
        variant
    ]
    changes = {f"model.{k}": v for k, v in model.items()}
    config = rocket_config.with_changes(
        base,
        **{
            "model.nets": nets,
            "train.seed": seed,
            "train.train_steps": steps,
            "train.batch_size": batch_size,
        },
        **changes,
    )
    config = rocket_config.for_train_rows(config, train_rows)
    return rocket_config.linear_config(config) if variant == LINEAR else config


def train_dataset(data: BenchData, batch_size: int, seed: int):
    """Shuffled, repeated batches; the seed fixes the order, so every variant trained with
    a seed sees the same batches."""
    import tensorflow as tf

    n = int(data.train_labels.shape[0])
    dataset = tf.data.Dataset.from_tensor_slices((data.train_features, data.train_labels))
    dataset = dataset.shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2)


def build_trained(data: BenchData, config, traced: dict | None = None):
    """A model of `config` trained for config.train.train_steps steps on `data`.

    `traced` maps a configuration without its seed to a model whose train step is already
    traced: that model gets this seed's fresh initial weights and a zeroed optimizer, which
    is the same start as a new model, without tracing the step again (~5 s a model).
    """
    import dataclasses as dc

    import rocket_model
    import rocket_training
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(config.train.seed)
    model = rocket_model.build_model(config, rocket_training.table_sizes(config, data.tft_output))
    dataset = train_dataset(data, config.train.batch_size, config.train.seed)
    key = dc.replace(config, train=dc.replace(config.train, seed=0)).to_json()
    previous = traced.get(key) if traced is not None else None
    if previous is not None:
        model(next(iter(dataset))[0])  # creates this seed's initial weights, eagerly
        previous.set_weights(model.get_weights())
        for variable in previous.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        model = previous
    else:  # slots now, so the train step is traced once (rocket_training._fit)
        model.optimizer.build(model.trainable_variables)
    model.fit(dataset, epochs=1, steps_per_epoch=config.train.train_steps, verbose=0)
    if traced is not None:
        traced[key] = model
    return model


def predict(model, net: str, features: dict, batch: int = 4096) -> np.ndarray:
    """Click probabilities of one net on the eval features (inference mode)."""
    return predict_path(model.net_path(net), features, batch)


def predict_path(path, features: dict, batch: int = 4096, logits: bool = False) -> np.ndarray:
    """Click probabilities of a NetPath (or a rocket_blend.BlendedPath) on the eval
    features, in batches; with `logits`, each row's click logit instead."""
    import rocket_blend
    import tensorflow as tf

    n = int(next(iter(features.values())).dense_shape[0])
    out = []
    for start in range(0, n, batch):
        size = min(batch, n - start)
        part = {
            k: tf.sparse.slice(v, [start, 0], [size, v.dense_shape[1]]) for k, v in features.items()
        }
        out.append(rocket_blend.margins(path.logits(part)) if logits else path(part).numpy())
    return np.concatenate(out)


def auc(labels: np.ndarray, predictions: np.ndarray) -> float:
    """The AUC of these rows; NaN when they do not hold both clicks and non-clicks."""
    import rocket_metrics

    value = rocket_metrics.user_auc(labels, predictions)
    return float("nan") if value is None else float(value)


def auc_and_gauc(labels: np.ndarray, predictions: np.ndarray, users: np.ndarray) -> dict:
    """Overall AUC and GAUC (impression-weighted per-user AUC; one-class users skipped)."""
    import rocket_metrics

    return {
        "auc": auc(labels, predictions),
        "gauc": rocket_metrics.gauc(users, labels, predictions),
    }


def spread(values: list[float]) -> dict:
    """Mean, standard deviation (ddof=1 when there are several), min, max and the values."""
    array = np.asarray(values, dtype=float)
    return {
        "mean": round(float(array.mean()), 5),
        "std": round(float(array.std(ddof=1)) if array.size > 1 else 0.0, 5),
        "min": round(float(array.min()), 5),
        "max": round(float(array.max()), 5),
        "values": [round(float(v), 5) for v in array],
    }


def gap_closed(
    light_alone: float, rocket: float, booster_alone: float, noise: float | None = 0.0
) -> dict:
    """(rocket − light alone) / (booster alone − light alone); null with the reason when
    the booster alone is not better than the light alone by more than `noise` (the seeds'
    spread): a gap within the noise makes the ratio noise too (0.0006 / 0.0001 = 6).
    `noise` None: one seed, so the spread is unknown and no gap can be told from noise."""
    denominator = booster_alone - light_alone
    if not denominator > 0:
        return {
            "value": None,
            "why_null": f"booster alone − light alone = {denominator:+.5f} ≤ 0: the booster "
            "architecture is not better here, so there is no gap to close",
        }
    if noise is None:
        return {
            "value": None,
            "why_null": f"booster alone − light alone = {denominator:+.5f} from one seed: "
            "the seeds' spread it must exceed is unknown (run more seeds)",
        }
    if not denominator > noise:
        return {
            "value": None,
            "why_null": f"booster alone − light alone = {denominator:+.5f}, within the seeds' "
            f"spread ({noise:.5f}): no gap measurable beyond the noise",
        }
    return {"value": round((rocket - light_alone) / denominator, 4), "why_null": None}


def gap_noise(results: dict, metric: str) -> float | None:
    """The seeds' spread a gap must exceed: the larger std of light alone and booster
    alone; None from a single seed (no spread measured)."""
    light, booster = results[LIGHT_ALONE][metric], results[BOOSTER_ALONE][metric]
    if min(len(light["values"]), len(booster["values"])) < 2:
        return None
    return max(light["std"], booster["std"])


def net_predictions(model, name: str, kind: str, features: dict) -> dict[str, np.ndarray]:
    """Click probabilities of each net a variant's model has: the net itself when trained
    alone, light under `name` and booster under `name_booster` for rocket."""
    import rocket_model

    nets = {
        LIGHT_ALONE: [rocket_model.LIGHT],
        LINEAR: [rocket_model.LIGHT],
        BOOSTER_ALONE: [rocket_model.BOOSTER],
    }
    return {
        name if kind != ROCKET or net == rocket_model.LIGHT else f"{name}_booster": predict(
            model, net, features
        )
        for net in nets.get(kind, [rocket_model.LIGHT, rocket_model.BOOSTER])
    }


def score_nets(model, name: str, kind: str, data: BenchData, per_variant: dict) -> None:
    """Append the eval AUC and GAUC of each net a variant's model has (net_predictions)
    to `per_variant`."""
    for key, predictions in net_predictions(model, name, kind, data.eval_features).items():
        scores = auc_and_gauc(data.eval_labels, predictions, data.eval_users)
        entry = per_variant.setdefault(key, {"auc": [], "gauc": []})
        entry["auc"].append(scores["auc"])
        entry["gauc"].append(scores["gauc"])


def run_variants(
    data: BenchData,
    base,
    seeds: list[int],
    steps: int,
    batch_size: int,
    variants: dict[str, tuple[str, dict]],
    keep_seed: int | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict, dict]:
    """Train each named variant (kind, model options) once per seed; AUC and GAUC of the net
    that would serve (light for rocket, the net itself when alone). Also returns the
    models trained with `keep_seed`, for export."""

    per_variant: dict[str, dict[str, list[float]]] = {}
    kept = {}
    traced: dict = {}
    for seed in seeds:
        for name, (kind, model_options) in variants.items():
            started = time.time()
            config = variant_config(
                base, kind, seed, steps, batch_size, data.train_rows, **model_options
            )
            model = build_trained(data, config, traced)
            score_nets(model, name, kind, data, per_variant)
            log(
                f"[bench] {data.name} {name} seed {seed}: light/self AUC "
                f"{per_variant[name]['auc'][-1]:.4f} ({time.time() - started:.0f}s)"
            )
            if seed == keep_seed:  # the model object is reused by later seeds: keep the last
                kept[name] = model
    summary = {
        name: {"auc": spread(v["auc"]), "gauc": spread(v["gauc"])}
        for name, v in per_variant.items()
    }
    return summary, kept


def _quality_block(
    data: BenchData, seeds: list[int], steps: int, batch_size: int, results: dict
) -> dict:
    gaps = {
        metric: gap_closed(
            results[LIGHT_ALONE][metric]["mean"],
            results[ROCKET][metric]["mean"],
            results[BOOSTER_ALONE][metric]["mean"],
            gap_noise(results, metric),
        )
        for metric in ("auc", "gauc")
    }
    return {
        "data": data.source,
        "split": data.split,
        "rows": {"train": data.train_rows, "eval": len(data.eval_examples)},
        "eval_click_rate": round(float(np.mean(data.eval_labels)), 4),
        "seeds": seeds,
        "seed_varies": "weight initialisation and batch order (the data and split are fixed)",
        "train_steps": steps,
        "batch_size": batch_size,
        "variants": results,
        "variant_notes": {
            LIGHT_ALONE: "embeddings -> share -> light [model nets=light], labels only",
            ROCKET: "Rocket Launching's light net (trained jointly with the booster)",
            f"{ROCKET}_booster": "the booster trained jointly (for reference)",
            BOOSTER_ALONE: "embeddings -> share -> booster [model nets=booster], labels only",
            LINEAR: "embeddings -> logit, no hidden layer [nets=light, no share, light_dnn []]: "
            "a logistic regression over one-hot ids and tag tokens, labels only, "
            "regularised as the Trainer's linear baseline (rocket_config.linear_config)",
        },
        "gap_closed": gaps,
    }


@dataclass
class QualityRun:
    """The quality part's results, and what later parts reuse: the main dataset, its
    models of the last seed (exported for serving) and the real sample's data."""

    quality: dict
    results: dict
    kept: dict
    real: BenchData | None


def measure_quality(
    settings: BenchSettings,
    base,
    main: BenchData,
    real_sample: Path | None,
    workdir: Path,
    meta: dict,
    log: Callable[[str], None],
) -> QualityRun:
    """Every variant (light alone, rocket, booster alone, linear) over the seeds on the main
    dataset and on the real sample, the full mode's ablations, gap_closed and targets."""
    seeds = list(range(settings.seeds))
    step_args = (settings.train_steps, settings.batch_size)
    variants = {
        LIGHT_ALONE: (LIGHT_ALONE, {}),
        ROCKET: (ROCKET, {}),
        BOOSTER_ALONE: (BOOSTER_ALONE, {}),
        LINEAR: LINEAR_VARIANT,
    }
    results, kept = run_variants(
        main, base, seeds, *step_args, variants, keep_seed=seeds[-1], log=log
    )
    quality = {"measured": meta, main.name: _quality_block(main, seeds, *step_args, results)}

    if settings.ablations:
        ablations = {
            "hint_weight_0": (ROCKET, {"hint_weight": 0.0}),
            "hint_weight_0.03": (ROCKET, {"hint_weight": 0.03}),
            "light_trains_share": (ROCKET, {"light_trains_share": True}),
            "feature_distillation": (ROCKET, {"feature_based_distillation": True}),
        }
        ablation_results, _ = run_variants(main, base, seeds, *step_args, ablations, log=log)
        quality[main.name]["ablations"] = {
            "baseline": "rocket: hint weight 1, stop-gradient at share, no feature distillation",
            "rocket": results[ROCKET],
            **{k: v for k, v in ablation_results.items() if not k.endswith("_booster")},
        }

    real = None
    if real_sample is not None and real_sample.exists():
        real = load_real(settings, base, real_sample, workdir, log)
        real_seeds = list(range(settings.real_seeds))
        real_args = (settings.real_train_steps, settings.batch_size)
        real_results, _ = run_variants(real, base, real_seeds, *real_args, variants, log=log)
        quality["taobao_sample"] = _quality_block(real, real_seeds, *real_args, real_results)
    else:
        quality["taobao_sample"] = {"skipped": f"the real sample is not present at {real_sample}"}
    quality["targets"] = quality_targets(quality, main.name)
    return QualityRun(quality, results, kept, real)
