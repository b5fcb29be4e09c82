"""`rocket bench`: the accuracy / latency trade-off Rocket Launching is adopted for,
measured side by side in one process.

Why one process and side by side: the machine is shared, so absolute numbers drift with
the neighbours' load. Every comparison here is a ratio of numbers measured in the same
run, interleaved round by round (serving, training), on the same data and the same
batches. The TFX pipeline is run only for the `pipeline` part; the model parts run TFT's
analysis once per dataset in-process (tft_beam, DirectRunner) and reuse the
TFTransformOutput and the transformed data for every model variant.

Output: DIR/benchmark.json (top-level keys exactly quality, sweep, serving, training,
pipeline, and scale when the settings have a scale part: full mode), DIR/quality_vs_latency.png,
DIR/latency_vs_batch.png, DIR/benchmark.md. The scale part (pipeline.scale_benchmark) runs
last, in subprocesses of its own; `rocket bench --only scale` runs it alone.
"""

from __future__ import annotations

import datetime
import functools
import gzip
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rocket_config  # TensorFlow-free

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipeline import data_source, sample_data, scale_benchmark
from pipeline.errors import UsageError
from pipeline.settings import EVAL_FRACTION

BENCH_KEYS = ("quality", "sweep", "serving", "training", "pipeline")
JSON_FILE = "benchmark.json"
TABLE_FILE = "benchmark.md"
QUALITY_PLOT = "quality_vs_latency.png"
LATENCY_PLOT = "latency_vs_batch.png"

# EasyRec on this machine (reference.md §5): light-only serving and training throughput.
EASYREC_LIGHT_MS_B512 = 13.3
EASYREC_TRAIN_EXAMPLES_PER_S = 2400.0

LIGHT_ALONE, ROCKET, BOOSTER_ALONE = "light_alone", "rocket", "booster_alone"
# The linear baseline: the light net alone with no hidden layer and no share tower, so its
# logit is a weighted sum of the pooled embeddings, i.e. one learned weight per id and per
# tag token: a logistic regression over every column's one-hot ids and tag tokens, trained
# on the same rows, batches and steps as the nets.
LINEAR = "linear"
LINEAR_VARIANT = (LIGHT_ALONE, {"share_dnn": None, "light_dnn": rocket_config.DNNConfig(())})


class BenchError(UsageError):
    """A bench option or input cannot be used; the message names it."""


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of every part. `quick()` and `full()` are the CLI modes; tests pass tiny ones."""

    mode: str
    generated_rows: int
    seeds: int  # generator or --data
    train_steps: int
    real_seeds: int
    real_train_steps: int
    batch_size: int = 512
    eval_fraction: float = EVAL_FRACTION
    ablations: bool = False
    sweep: tuple[tuple[int, ...], ...] = ((128, 64), ())
    serving_batch_sizes: tuple[int, ...] = (1, 32, 512)
    serving_repeats: int = 60
    serving_warmup: int = 5
    training_rounds: int = 9
    training_steps_per_round: int = 10
    # None: no pipeline run (the part says so); {}: a default `rocket run`; else its options.
    pipeline_args: tuple[str, ...] | None = ()
    pipeline_note: str = "a default `rocket run` (50,000 generated rows, at most 1,200 steps)"
    # None: no pipeline-at-size run; else the options of a `rocket run` at size, measured
    # after the default one (key `pipeline_at_size`).
    pipeline_at_size_args: tuple[str, ...] | None = None
    # None: no scale part (the key is left out); else the large-id-space part's sizes.
    scale: scale_benchmark.ScaleSettings | None = None

    @classmethod
    def quick(cls) -> BenchSettings:
        return cls(
            mode="quick",
            generated_rows=20_000,
            seeds=3,
            train_steps=200,
            real_seeds=5,
            real_train_steps=160,
            sweep=((128, 64), ()),
            serving_repeats=60,
            training_rounds=9,
            training_steps_per_round=10,
            pipeline_args=("--rows", "5000", "--train-steps", "50"),
            pipeline_note="quick mode: `rocket run --rows 5000 --train-steps 50`, not the "
            "default run (50,000 rows, at most 1,200 steps); Beam and TFX start-up dominate",
        )

    @classmethod
    def full(cls) -> BenchSettings:
        return cls(
            mode="full",
            generated_rows=50_000,
            seeds=3,
            train_steps=300,
            real_seeds=5,
            real_train_steps=160,
            ablations=True,
            sweep=((128, 64), (64, 32), (32,), ()),
            serving_repeats=200,
            training_rounds=15,
            training_steps_per_round=20,
            scale=scale_benchmark.ScaleSettings.full(),
            pipeline_at_size_args=AT_SIZE_ARGS,
        )


# --- data -------------------------------------------------------------------------------


@dataclass
class BenchData:
    """One dataset, split and analysed once; every model variant reads these tensors."""

    name: str
    source: str
    split: str
    train_examples: list[bytes]
    eval_examples: list[bytes]
    eval_users: np.ndarray
    tft_output: Any = None
    train_features: dict = field(default_factory=dict)
    train_labels: Any = None
    eval_features: dict = field(default_factory=dict)
    eval_labels: np.ndarray | None = None


def _read_lines(files: list[str]) -> list[tuple[str, int, bytes]]:
    lines = []
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                lines.append((path, number, raw.rstrip(b"\r\n")))
    return lines


def _examples(lines: list[tuple[str, int, bytes]], config) -> list:
    """tf.Examples as the pipeline's ExampleGen writes them (same parser, same errors)."""
    from components.easyrec_example_gen.row_parser import Column, RowParser

    parser = RowParser(
        [Column(f.name, f.type) for f in config.input_fields],
        separator=config.separator,
        label_field=config.label_field,
    )
    out = []
    for path, number, raw in lines:
        example = parser.parse(raw, path, number)
        if example is not None:
            out.append(example)
    return out


def _user_of(example, user_field: str) -> str:
    values = example.features.feature[user_field].bytes_list.value
    return values[0].decode() if values else ""


def split_examples(
    examples: list, eval_fraction: float, by_user: bool, user_field: str = "user_id"
) -> tuple[list, list]:
    """(train, eval). By user: a crc32 of the user id decides, so no eval user is seen in
    training (the real sample is grouped by user). Else a crc32 of the example's bytes,
    as the pipeline's hash split does."""
    train, evaluation = [], []
    threshold = int(eval_fraction * 1000)
    for example in examples:
        if by_user:
            key = _user_of(example, user_field).encode()
        else:
            # deterministic: map fields are otherwise serialized in a per-process order.
            key = example.SerializeToString(deterministic=True)
        (evaluation if zlib.crc32(key) % 1000 < threshold else train).append(example)
    if not train or not evaluation:
        raise BenchError(
            f"the {len(examples)} rows give an empty train or eval split; give more rows"
        )
    return train, evaluation


def load_dataset(
    name: str, source: str, examples: list, eval_fraction: float, by_user: bool
) -> BenchData:
    train, evaluation = split_examples(examples, eval_fraction, by_user)
    split = (
        f"grouped by user: crc32(user_id) puts {eval_fraction:.0%} of users in eval"
        if by_user
        else f"by row: crc32 of each example puts ~{eval_fraction:.0%} in eval"
    )
    return BenchData(
        name=name,
        source=source,
        split=split,
        train_examples=[e.SerializeToString() for e in train],
        eval_examples=[e.SerializeToString() for e in evaluation],
        eval_users=np.array([_user_of(e, "user_id") for e in evaluation]),
    )


def raw_feature_spec(config) -> dict:
    """Every input column variable-length, as SchemaGen(infer_feature_shape=False) does."""
    import tensorflow as tf

    dtypes = {"int": tf.int64, "string": tf.string, "float": tf.float32}
    return {f.name: tf.io.VarLenFeature(dtypes[f.type]) for f in config.input_fields}


def analyze_and_transform(data: BenchData, config, workdir: Path) -> None:
    """TFT analysis of the train split on Beam's DirectRunner (once per dataset), then the
    transform graph applied to both splits once; the results stay in memory."""
    import apache_beam as beam
    import rocket_preprocessing
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
    from tfx_bsl.public import tfxio

    spec = raw_feature_spec(config)
    schema = schema_utils.schema_from_feature_spec(spec)
    source = tfxio.TFExampleBeamRecord(
        physical_format="inmem", telemetry_descriptors=["rocket_bench"], schema=schema
    )
    fn = functools.partial(
        rocket_preprocessing.preprocessing_fn,
        custom_config={rocket_preprocessing.CONFIG_KEY: config.to_json()},
    )
    out_dir = workdir / f"transform_{data.name}"
    shutil.rmtree(out_dir, ignore_errors=True)
    options = beam.options.pipeline_options.PipelineOptions(
        ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    )
    with tft_beam.Context(temp_dir=str(workdir / "tft_tmp"), force_tf_compat_v1=False):
        with beam.Pipeline(options=options) as p:
            raw = p | "Train" >> beam.Create(data.train_examples) | source.BeamSource()
            transform_fn = (raw, source.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir))
    # The raw schema, as TFX's Transform writes it: the export's serving spec comes from it.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        str(out_dir / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    data.tft_output = tft.TFTransformOutput(str(out_dir))
    layer = data.tft_output.transform_features_layer()

    def transform(examples: list[bytes]) -> dict:
        parts = []
        for start in range(0, len(examples), 4096):
            raw = tf.io.parse_example(tf.constant(examples[start : start + 4096]), spec)
            parts.append(layer(raw))
        merged = {}
        for key in parts[0]:
            values = [part[key] for part in parts]
            if isinstance(values[0], tf.SparseTensor):
                width = max(int(v.dense_shape[1]) for v in values)
                values = [tf.sparse.reset_shape(v, [v.dense_shape[0], width]) for v in values]
                merged[key] = tf.sparse.concat(0, values)
            else:
                merged[key] = tf.concat(values, 0)
        return merged

    label = rocket_preprocessing.LABEL_KEY
    train = transform(data.train_examples)
    data.train_labels = train.pop(label)
    data.train_features = train
    evaluation = transform(data.eval_examples)
    data.eval_labels = evaluation.pop(label).numpy()
    data.eval_features = evaluation


# --- training and quality ---------------------------------------------------------------


def variant_config(base, variant: str, seed: int, steps: int, batch_size: int, **model):
    """The RocketConfig of one variant: same embeddings, share tower, optimizer and steps;
    only which nets train (and the named model options) differ."""
    import rocket_config

    nets = {LIGHT_ALONE: "light", ROCKET: "both", BOOSTER_ALONE: "booster"}[variant]
    changes = {f"model.{k}": v for k, v in model.items()}
    return rocket_config.with_changes(
        base,
        **{
            "model.nets": nets,
            "train.seed": seed,
            "train.train_steps": steps,
            "train.batch_size": batch_size,
        },
        **changes,
    )


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
    import tensorflow as tf
    import tf_keras as keras
    from rocket_preprocessing import table_size

    keras.utils.set_random_seed(config.train.seed)
    sizes = {f.name: table_size(f, data.tft_output) for f in config.model_features()}
    model = rocket_model.build_model(config, sizes)
    dataset = train_dataset(data, config.train.batch_size, config.train.seed)
    key = dc.replace(config, train=dc.replace(config.train, seed=0)).to_json()
    previous = traced.get(key) if traced is not None else None
    if previous is not None:
        model(next(iter(dataset))[0])  # creates this seed's initial weights, eagerly
        previous.set_weights(model.get_weights())
        for variable in previous.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        model = previous
    model.fit(dataset, epochs=1, steps_per_epoch=config.train.train_steps, verbose=0)
    if traced is not None:
        traced[key] = model
    return model


def predict(model, net: str, features: dict, batch: int = 4096) -> np.ndarray:
    """Click probabilities of one net on the eval features (inference mode)."""
    import tensorflow as tf

    path = model.net_path(net)
    n = int(next(iter(features.values())).dense_shape[0])
    out = []
    for start in range(0, n, batch):
        size = min(batch, n - start)
        part = {
            k: tf.sparse.slice(v, [start, 0], [size, v.dense_shape[1]]) for k, v in features.items()
        }
        out.append(path(part).numpy())
    return np.concatenate(out)


def auc_and_gauc(labels: np.ndarray, predictions: np.ndarray, users: np.ndarray) -> dict:
    """Overall AUC and GAUC (impression-weighted per-user AUC; one-class users skipped)."""
    import rocket_metrics

    auc = rocket_metrics.user_auc(labels, predictions)
    return {
        "auc": float("nan") if auc is None else float(auc),
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


def gap_closed(light_alone: float, rocket: float, booster_alone: float) -> dict:
    """(rocket − light alone) / (booster alone − light alone); null with the reason when
    the booster alone is not better than the light alone (no gap to close)."""
    denominator = booster_alone - light_alone
    if not denominator > 0:
        return {
            "value": None,
            "why_null": f"booster alone − light alone = {denominator:+.5f} ≤ 0: the booster "
            "architecture is not better here, so there is no gap to close",
        }
    return {"value": round((rocket - light_alone) / denominator, 4), "why_null": None}


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
    import rocket_model

    per_variant: dict[str, dict[str, list[float]]] = {}
    kept = {}
    traced: dict = {}
    for seed in seeds:
        for name, (kind, model_options) in variants.items():
            started = time.time()
            config = variant_config(base, kind, seed, steps, batch_size, **model_options)
            model = build_trained(data, config, traced)
            nets = {LIGHT_ALONE: [rocket_model.LIGHT], BOOSTER_ALONE: [rocket_model.BOOSTER]}
            for net in nets.get(kind, [rocket_model.LIGHT, rocket_model.BOOSTER]):
                scores = auc_and_gauc(
                    data.eval_labels, predict(model, net, data.eval_features), data.eval_users
                )
                key = name if kind != ROCKET or net == rocket_model.LIGHT else f"{name}_booster"
                entry = per_variant.setdefault(key, {"auc": [], "gauc": []})
                entry["auc"].append(scores["auc"])
                entry["gauc"].append(scores["gauc"])
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
        )
        for metric in ("auc", "gauc")
    }
    return {
        "data": data.source,
        "split": data.split,
        "rows": {"train": len(data.train_examples), "eval": len(data.eval_examples)},
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
            "a logistic regression over one-hot ids and tag tokens, labels only",
        },
        "gap_closed": gaps,
    }


# --- serving ----------------------------------------------------------------------------


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


def export_and_load(model, net: str, data: BenchData, label_field: str, directory: Path):
    """Export one net as the Trainer does (rocket_export.export_net) and load its
    serving_default signature back."""
    import rocket_export
    import tensorflow as tf

    shutil.rmtree(directory, ignore_errors=True)
    rocket_export.export_net(model.net_path(net), data.tft_output, label_field, str(directory))
    return tf.saved_model.load(str(directory)).signatures["serving_default"]


def parse_floor(data: BenchData, label_field: str, used: list[str]):
    """tf.io.parse_example alone, with the serving function's feature spec: the floor."""
    import rocket_export
    import tensorflow as tf

    spec = rocket_export.serving_feature_spec(
        data.tft_output.raw_feature_spec(), label_field, used=used
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def parse(examples):
        parsed = tf.io.parse_example(examples, spec)
        # One small output (ParseExampleV2 is one kernel: every feature is parsed anyway).
        # Returning its 3 tensors per feature would add ~1 ms of Python per call at batch 1,
        # while the served models return 2 tensors.
        return tf.stack([tf.size(parsed[name].values) for name in sorted(parsed)])

    # A concrete function, as the loaded serving signatures are: the same call path.
    return parse.get_concrete_function()


def serving_batches(examples: list[bytes], sizes: tuple[int, ...]) -> dict:
    """Batches of serialized examples (the eval rows, cycled when there are too few)."""
    import tensorflow as tf

    batches = {}
    for size in sizes:
        rows = [examples[i % len(examples)] for i in range(size)]
        batches[size] = tf.constant(rows)
    return batches


def _call_model(signature, batch):
    return lambda: signature(examples=batch)["probabilities"].numpy()


def _call_parse(parse, batch):
    return lambda: parse(batch).numpy()


def measure_serving(
    servables: dict[str, Any], parse, batches: dict, repeats: int, warmup: int
) -> dict:
    """Latency of each servable (and the parse floor) per batch size, interleaved."""
    out = {}
    for size, batch in batches.items():
        calls = {name: _call_model(sig, batch) for name, sig in servables.items()}
        if parse is not None:
            calls["parse_floor"] = _call_parse(parse, batch)
        seconds = time_interleaved(calls, repeats, warmup)
        out[str(size)] = {name: latency_stats(s, size) for name, s in seconds.items()}
    return out


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


# --- training throughput ----------------------------------------------------------------


def measure_training(
    data: BenchData, base, settings: BenchSettings, log: Callable[[str], None] = print
) -> dict:
    """Examples/s of light alone, rocket and booster alone on the same cached batches,
    timed in interleaved rounds after one untimed warm-up round (tracing)."""
    import rocket_model
    import tensorflow as tf
    from rocket_preprocessing import table_size

    steps = settings.training_steps_per_round
    batches = train_dataset(data, settings.batch_size, seed=0).take(steps).cache().repeat()
    functions, iterators = {}, {}
    for kind in (LIGHT_ALONE, ROCKET, BOOSTER_ALONE):
        config = variant_config(base, kind, 0, steps, settings.batch_size)
        sizes = {f.name: table_size(f, data.tft_output) for f in config.model_features()}
        model = rocket_model.build_model(config, sizes)
        functions[kind] = model.make_train_function()
        iterators[kind] = iter(batches)

    def round_of(kind: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(steps):
                logs = functions[kind](iterators[kind])
            tf.nest.map_structure(lambda t: t.numpy(), logs)

        return run

    seconds = time_interleaved(
        {kind: round_of(kind) for kind in functions}, settings.training_rounds, warmup=1
    )
    per_step = {kind: float(np.median(s)) / steps for kind, s in seconds.items()}
    rates = {
        kind: {
            "examples_per_second": round(settings.batch_size / t, 1),
            "ms_per_step": round(t * 1000, 3),
            "rounds_examples_per_second": [
                round(settings.batch_size * steps / s, 1) for s in seconds[kind]
            ],
        }
        for kind, t in per_step.items()
    }
    log(
        "[bench] training examples/s: "
        + ", ".join(f"{k} {v['examples_per_second']:.0f}" for k, v in rates.items())
    )
    # Ratios per round (the three were timed back to back), then the median: the load of
    # a shared machine changes between rounds, much less within one.
    rounds = range(settings.training_rounds)
    light, rocket, booster = (seconds[k] for k in (LIGHT_ALONE, ROCKET, BOOSTER_ALONE))
    over_booster = [rocket[r] / booster[r] for r in rounds]
    over_separate = [rocket[r] / (light[r] + booster[r]) for r in rounds]
    return {
        "batch_size": settings.batch_size,
        "steps_per_round": steps,
        "rounds": settings.training_rounds,
        "batches": f"the same {steps} cached batches of the {data.name} train split for all",
        "variants": rates,
        "ratios": "median over rounds of the ratio within each round",
        "rocket_over_booster_time": round(float(np.median(over_booster)), 4),
        "rocket_over_separate_time": round(float(np.median(over_separate)), 4),
        "rounds_rocket_over_booster_time": [round(v, 4) for v in over_booster],
        "rocket_over_easyrec_examples_per_second": _ratio(
            rates[ROCKET]["examples_per_second"], EASYREC_TRAIN_EXAMPLES_PER_S
        ),
    }


# --- pipeline ---------------------------------------------------------------------------

# The run at size of #15: 300,000 generated rows and a fixed 1,200 training steps (no
# validation checks, no early stop), so the Trainer's work is fixed and evaluation is
# measured against it.
AT_SIZE_ARGS = ("--rows", "300000", "--train-steps", "1200", "--fixed-steps")
# The steps that evaluate: the one that fetches the served baseline and the Evaluator
# (light candidate, served baseline and booster in one pass).
EVALUATION_COMPONENTS = ("ServedModelBaseline", "Evaluator")


def measure_pipeline(settings: BenchSettings, output: Path, log: Callable[[str], None]) -> dict:
    """Wall time per component of a `rocket run` in a subprocess (its own process: Beam
    and TFX state must not leak into the measurements above)."""
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
    args: tuple[str, ...], note: str, output: Path, name: str, log: Callable[[str], None]
) -> dict:
    run_dir = output / name
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
    result = subprocess.run(command, capture_output=True, text=True)
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


# --- the whole bench --------------------------------------------------------------------


def pipeline_table(pipe: dict, at_size: dict | None) -> list[str]:
    """Seconds per component of the default run, and of the run at size beside it."""
    runs = [pipe] + ([at_size] if at_size else [])
    lines = [f"- `{run['command']}`: {run['note']}." for run in runs]
    lines += [
        "",
        "| component | "
        + " | ".join(f"{run['train_rows'] + run['eval_rows']:,} rows" for run in runs)
        + " |",  # fmt: skip
        "|---" * (len(runs) + 1) + "|",
    ]
    for name in pipe["component_seconds"]:
        cells = [str(run["component_seconds"].get(name, "–")) for run in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **wall** | " + " | ".join(f"**{run['wall_seconds']}**" for run in runs) + " |")
    if at_size:
        lines += [
            "",
            "evaluation_over_trainer_time (ServedModelBaseline + Evaluator over Trainer, "
            f"at size): {_fmt(at_size['evaluation_over_trainer_time'])} "
            "(target ≤ 1.0).",
        ]
    return lines


def machine() -> str:
    cores = os.cpu_count()
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GB"
    except (ValueError, OSError):
        memory = "unknown memory"
    return f"{cores} cores, {memory}, {platform.system()} {platform.machine()} (shared)"


def _meta(settings: BenchSettings, command: str) -> dict:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "mode": settings.mode,
    }


@dataclass
class QualityRun:
    """The quality part's results, and what later parts reuse: the main dataset, its
    models of the last seed (exported for serving) and the real sample's data."""

    quality: dict
    results: dict
    kept: dict
    real: BenchData | None


def load_main(
    settings: BenchSettings,
    base,
    data: str | None,
    output: Path,
    workdir: Path,
    log: Callable[[str], None],
) -> BenchData:
    """The main dataset (--data, or the generator), split and analysed by TFT."""
    if data is not None:
        try:
            source = data_source.resolve(data, output)
        except data_source.InputError as error:
            raise BenchError(str(error)) from None
        examples = _examples(_read_lines(list(source.files)), base)
        main = load_dataset(
            "data", ", ".join(source.files), examples, settings.eval_fraction, False
        )
    else:
        rows = sample_data.generate_rows(settings.generated_rows, seed=0)
        lines = [("generated", i + 1, r.encode()) for i, r in enumerate(rows)]
        main = load_dataset(
            "generated",
            f"pipeline.sample_data, {settings.generated_rows} rows, seed 0",
            _examples(lines, base),
            settings.eval_fraction,
            False,
        )
    t0 = time.time()
    analyze_and_transform(main, base, workdir)
    seconds = time.time() - t0
    log(f"[bench] TFT on {main.name}: {len(main.train_examples)} train rows ({seconds:.0f}s)")
    return main


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
        real = load_dataset(
            "taobao_sample",
            str(real_sample),
            _examples(_read_lines([str(real_sample)]), base),
            settings.eval_fraction,
            True,
        )
        t0 = time.time()
        analyze_and_transform(real, base, workdir)
        log(f"[bench] TFT on the real sample ({time.time() - t0:.0f}s)")
        real_seeds = list(range(settings.real_seeds))
        real_args = (settings.real_train_steps, settings.batch_size)
        real_results, _ = run_variants(real, base, real_seeds, *real_args, variants, log=log)
        quality["taobao_sample"] = _quality_block(real, real_seeds, *real_args, real_results)
    else:
        quality["taobao_sample"] = {"skipped": f"the real sample is not present at {real_sample}"}
    quality["targets"] = _quality_targets(quality, main.name)
    return QualityRun(quality, results, kept, real)


def run_bench(
    output: Path,
    settings: BenchSettings,
    data: str | None = None,
    real_sample: Path | None = None,
    command: str = "rocket bench",
    log: Callable[[str], None] = print,
) -> dict:
    """Every part, then benchmark.json, the plots and benchmark.md under `output`."""
    import rocket_model

    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    base = rocket_config.default_config()
    label = base.label_field
    meta = _meta(settings, command)
    workdir = Path(tempfile.mkdtemp(prefix="rocket_bench_"))
    try:
        main = load_main(settings, base, data, output, workdir, log)
        run = measure_quality(settings, base, main, real_sample, workdir, meta, log)
        quality, results, kept, real = run.quality, run.results, run.kept, run.real
        seeds = list(range(settings.seeds))
        step_args = (settings.train_steps, settings.batch_size)
        sweep_variants = {
            _sweep_name(units): (ROCKET, {"light_dnn": rocket_config.DNNConfig(units)})
            for units in settings.sweep
            if units != base.model.light_dnn.hidden_units
        }

        # Sweep: rocket launching with smaller light nets (the seed's is the rocket above).
        sweep_results, sweep_models = run_variants(
            main, base, seeds, *step_args, sweep_variants, keep_seed=seeds[-1], log=log
        )

        # Serving: export the way the Trainer does, then time side by side.
        exports = output / "exports"
        servables = {
            "light": export_and_load(
                kept[ROCKET], rocket_model.LIGHT, main, label, exports / "light"
            ),
            "booster": export_and_load(
                kept[ROCKET], rocket_model.BOOSTER, main, label, exports / "booster"
            ),
        }
        floor = parse_floor(main, label, [f.name for f in base.model_features()])
        # Served rows: the real sample's when present (EasyRec's 13.3 ms was measured on
        # real rows; their tag lists are longer than the generator's), else the main
        # dataset's. The models are the main dataset's: unseen ids cost the same lookups.
        served = real if real is not None else main
        batches = serving_batches(served.eval_examples, settings.serving_batch_sizes)
        latency = measure_serving(
            servables, floor, batches, settings.serving_repeats, settings.serving_warmup
        )
        serving = _serving_block(latency, settings, served, meta)
        log(
            f"[bench] serving b{max(settings.serving_batch_sizes)}: light/booster "
            f"{serving['light_over_booster_latency_b512']}, light/parse "
            f"{serving['light_over_parse_floor_b512']}"
        )

        # Sweep latencies, side by side with the booster and the light alone.
        sweep_servables = {
            "booster_alone": export_and_load(
                kept[BOOSTER_ALONE], rocket_model.BOOSTER, main, label, exports / "booster_alone"
            ),
            "light_alone": export_and_load(
                kept[LIGHT_ALONE], rocket_model.LIGHT, main, label, exports / "light_alone"
            ),
            _sweep_name(base.model.light_dnn.hidden_units): servables["light"],
        }
        for name, model in sweep_models.items():
            sweep_servables[name] = export_and_load(
                model, rocket_model.LIGHT, main, label, exports / name
            )
        sweep_sizes = tuple(s for s in (1, max(settings.serving_batch_sizes)) if s in batches)
        sweep_latency = measure_serving(
            sweep_servables,
            None,
            {s: batches[s] for s in sweep_sizes},
            settings.serving_repeats,
            settings.serving_warmup,
        )
        sweep = _sweep_block(settings, base, results, sweep_results, sweep_latency, main, meta)

        training = measure_training(main, base, settings, log=log)
        training["measured"] = meta
        training["targets"] = _training_targets(training)

        pipeline_part = measure_pipeline(settings, output, log)
        pipeline_part["measured"] = meta
        at_size = measure_pipeline_at_size(settings, output, log)

        scale = None
        if settings.scale is not None:
            scale = scale_benchmark.run_scale(settings.scale, log=log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "quality": quality,
        "sweep": sweep,
        "serving": serving,
        "training": training,
        "pipeline": pipeline_part,
    }
    if at_size is not None:
        result["pipeline_at_size"] = at_size
    if scale is not None:
        result["scale"] = scale
    for part in result:
        result[part]["measured"] = {**meta, "bench_wall_seconds": round(time.time() - started, 1)}
    write_outputs(result, output)
    log(f"[bench] wrote {output / JSON_FILE}, {output / TABLE_FILE} ({time.time() - started:.0f}s)")
    return result


def run_size_only(
    output: Path,
    settings: BenchSettings,
    command: str = "rocket bench --only size",
    log: Callable[[str], None] = print,
) -> dict:
    """The default `rocket run` and the run at size, side by side: benchmark.json with the
    keys `pipeline` and `pipeline_at_size`, and benchmark.md."""
    if settings.pipeline_at_size_args is None or settings.pipeline_args is None:
        raise BenchError(f"the {settings.mode} mode has no pipeline-at-size part")
    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    meta = _meta(settings, command)
    result = {
        "pipeline": measure_pipeline(settings, output, log),
        "pipeline_at_size": measure_pipeline_at_size(settings, output, log),
    }
    lines = pipeline_table(result["pipeline"], result["pipeline_at_size"])
    return _write_alone(output, "size", result, lines, meta, started, log)


def run_scale_only(
    output: Path,
    settings: BenchSettings,
    command: str = "rocket bench --only scale",
    log: Callable[[str], None] = print,
) -> dict:
    """The scale part alone: benchmark.json with the one key `scale`, and benchmark.md."""
    if settings.scale is None:
        raise BenchError(f"the {settings.mode} mode has no scale part")
    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    meta = _meta(settings, command)
    scale = scale_benchmark.run_scale(settings.scale, log=log)
    lines = scale_benchmark.markdown_lines(scale)
    return _write_alone(output, "scale", {"scale": scale}, lines, meta, started, log)


def run_quality_only(
    output: Path,
    settings: BenchSettings,
    data: str | None = None,
    real_sample: Path | None = None,
    command: str = "rocket bench --only quality",
    log: Callable[[str], None] = print,
) -> dict:
    """The quality part alone (every variant over the seeds, ablations in full mode, the
    real sample): benchmark.json with the one key `quality`, and benchmark.md."""
    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    meta = _meta(settings, command)
    base = rocket_config.default_config()
    workdir = Path(tempfile.mkdtemp(prefix="rocket_bench_"))
    try:
        main = load_main(settings, base, data, output, workdir, log)
        quality = measure_quality(settings, base, main, real_sample, workdir, meta, log).quality
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {"quality": quality}
    lines = quality_lines(quality) + targets_lines(result, ("quality",))
    return _write_alone(output, "quality", result, lines, meta, started, log)


def _write_alone(
    output: Path,
    only: str,
    result: dict,
    lines: list[str],
    meta: dict,
    started: float,
    log: Callable[[str], None],
) -> dict:
    """What `rocket bench --only ONLY` writes: each part stamped `measured`, benchmark.json
    with those parts, benchmark.md with `lines` under a header naming the run."""
    for part in result.values():
        part["measured"] = {**meta, "bench_wall_seconds": round(time.time() - started, 1)}
    (output / JSON_FILE).write_text(json.dumps(_clean(result), indent=2) + "\n")
    header = [
        f"# rocket bench --only {only}",
        "",
        f"{meta['date']}; {meta['machine']}; `{meta['command']}`.",
        "",
    ]
    (output / TABLE_FILE).write_text("\n".join(header + lines))
    log(f"[bench] wrote {output / JSON_FILE}, {output / TABLE_FILE} ({time.time() - started:.0f}s)")
    return result


def _sweep_name(units: tuple[int, ...]) -> str:
    return "light_" + ("x".join(str(u) for u in units) if units else "none")


def _serving_block(latency: dict, settings: BenchSettings, data: BenchData, meta: dict) -> dict:
    big = str(max(settings.serving_batch_sizes))
    small = str(min(settings.serving_batch_sizes))

    def ratio(size: str, a: str, b: str) -> float | None:
        return _ratio(latency[size][a]["median_ms"], latency[size][b]["median_ms"])

    light_big = latency[big]["light"]["median_ms"]
    return {
        "examples": f"serialized raw tf.Examples (no label) of the {data.name} eval split",
        "models": "light and booster of the last seed's rocket model, each exported with "
        "rocket_export.export_net (TFT layer + one net), loaded with tf.saved_model.load",
        "parse_floor": "tf.io.parse_example alone in a tf.function, same feature spec",
        "warmup_calls": settings.serving_warmup,
        "repeats": settings.serving_repeats,
        "batches": latency,
        "light_over_booster_latency_b512": ratio(big, "light", "booster"),
        "light_over_parse_floor_b512": ratio(big, "light", "parse_floor"),
        "light_over_booster_latency_b1": ratio(small, "light", "booster"),
        "light_over_parse_floor_b1": ratio(small, "light", "parse_floor"),
        "easyrec_light_ms_b512": EASYREC_LIGHT_MS_B512,
        "light_speedup_over_easyrec_b512": _ratio(EASYREC_LIGHT_MS_B512, light_big),
        "largest_batch": int(big),
        "measured": meta,
    }


def _sweep_block(settings, base, results, sweep_results, latency, data, meta) -> dict:
    big, small = str(max(settings.serving_batch_sizes)), "1"

    def lat(name: str, size: str) -> float | None:
        entry = latency.get(size, {}).get(name)
        return entry["median_ms"] if entry else None

    points = []
    for units in settings.sweep:
        name = _sweep_name(units)
        scores = (
            results[ROCKET] if units == base.model.light_dnn.hidden_units else sweep_results[name]
        )
        points.append(
            {
                "name": name,
                "light_dnn": list(units),
                "auc": scores["auc"],
                "gauc": scores["gauc"],
                "latency_ms_b512": lat(name, big),
                "latency_ms_b1": lat(name, small),
            }
        )
    reference = {
        name: {
            "auc": results[name]["auc"],
            "gauc": results[name]["gauc"],
            "latency_ms_b512": lat(name, big),
            "latency_ms_b1": lat(name, small),
        }
        for name in (BOOSTER_ALONE, LIGHT_ALONE)
    }
    return {
        "data": data.source,
        "seeds": list(range(settings.seeds)),
        "train_steps": settings.train_steps,
        "note": "rocket launching with light nets of decreasing size (none = the light head "
        "straight on the shared tower); latency measured side by side with the booster and "
        "light alone, median of interleaved calls",
        "points": points,
        **reference,
        "measured": meta,
    }


def _target(name: str, value: float | None, op: str, goal: float, note: str = "") -> dict:
    if value is None:
        met = None
    else:
        met = {"<=": value <= goal, ">=": value >= goal, "<": value < goal, ">": value > goal}[op]
    return {"target": f"{name} {op} {goal}", "value": value, "met": met, "note": note}


def _quality_targets(quality: dict, main: str) -> list[dict]:
    targets = []
    for dataset in (main, "taobao_sample"):
        block = quality.get(dataset, {})
        if "gap_closed" not in block:
            continue
        if LINEAR in block["variants"]:
            light, linear = block["variants"][ROCKET]["auc"], block["variants"][LINEAR]["auc"]
            targets.append(
                _target(
                    f"rocket light AUC − linear AUC ({dataset})",
                    round(light["mean"] - linear["mean"], 5),
                    ">",
                    max(light["std"], linear["std"]),
                    "beyond the seeds' spread (the larger std of the two)",
                )
            )
        for metric in ("auc", "gauc"):
            gap = block["gap_closed"][metric]
            targets.append(
                _target(
                    f"gap_closed ({dataset}, {metric.upper()})",
                    gap["value"],
                    ">=",
                    0.6,
                    gap["why_null"] or "",
                )
            )
    return targets


def _serving_targets(serving: dict) -> list[dict]:
    return [
        _target("light_over_parse_floor_b512", serving["light_over_parse_floor_b512"], "<=", 2.0),
        _target(
            "light_over_booster_latency_b512",
            serving["light_over_booster_latency_b512"],
            "<=",
            0.8,
        ),
        _target(
            "light_speedup_over_easyrec_b512 (13.3 ms / light ms)",
            serving["light_speedup_over_easyrec_b512"],
            ">=",
            2.5,
        ),
    ]


def _training_targets(training: dict) -> list[dict]:
    return [
        _target(
            "rocket training examples/s over EasyRec's 2,400",
            training["rocket_over_easyrec_examples_per_second"],
            ">=",
            2.0,
        ),
        _target("rocket_over_booster_time", training["rocket_over_booster_time"], "<=", 1.3),
        _target("rocket_over_separate_time", training["rocket_over_separate_time"], "<", 1.0),
    ]


# --- outputs ----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (json would write invalid NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_outputs(result: dict, output: Path) -> None:
    result["serving"]["targets"] = _serving_targets(result["serving"])
    (output / JSON_FILE).write_text(json.dumps(_clean(result), indent=2) + "\n")
    plot_quality_vs_latency(result, output / QUALITY_PLOT)
    plot_latency_vs_batch(result, output / LATENCY_PLOT)
    (output / TABLE_FILE).write_text(markdown(result))


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
    for name in ("light", "booster", "parse_floor"):
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


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pm(stats: dict) -> str:
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def quality_lines(quality: dict) -> list[str]:
    """The Quality section of benchmark.md: one table per dataset, gap_closed, ablations."""
    lines = [
        "## Quality (eval split; mean ± std over seeds)",
        "",
    ]
    for name, block in quality.items():
        if name in ("measured", "targets"):
            continue
        if "skipped" in block:
            lines += [f"**{name}**: skipped: {block['skipped']}", ""]
            continue
        lines += [
            f"**{name}**: {block['data']}; split {block['split']}; "
            f"{block['rows']['train']} train / {block['rows']['eval']} eval rows; "
            f"seeds {block['seeds']}; {block['train_steps']} steps of {block['batch_size']}.",
            "",
            "| variant | AUC | GAUC |",
            "|---|---|---|",
        ]
        for variant, scores in block["variants"].items():
            lines.append(f"| {variant} | {_pm(scores['auc'])} | {_pm(scores['gauc'])} |")
        for metric in ("auc", "gauc"):
            gap = block["gap_closed"][metric]
            text = _fmt(gap["value"]) if gap["value"] is not None else f"null ({gap['why_null']})"
            lines.append(f"\ngap_closed ({metric.upper()}): {text}")
        if "ablations" in block:
            lines += [
                "",
                "Ablations (rocket light net):",
                "",
                "| variant | AUC | GAUC |",
                "|---|---|---|",
            ]
            for variant, scores in block["ablations"].items():
                if isinstance(scores, dict):
                    lines.append(f"| {variant} | {_pm(scores['auc'])} | {_pm(scores['gauc'])} |")
        lines.append("")
    return lines


def targets_lines(result: dict, parts: tuple[str, ...]) -> list[str]:
    """The Targets section: every target of `parts`, met or missed."""
    lines = ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for part in parts:
        for t in result[part].get("targets", []):
            met = "n/a" if t["met"] is None else ("met" if t["met"] else "missed")
            note = f" ({t['note']})" if t["note"] else ""
            lines.append(f"| {t['target']} | {_fmt(t['value'])} | {met}{note} |")
    return lines


def markdown(result: dict) -> str:
    """benchmark.md: the tables a reader compares, and every target met or missed."""
    meta = result["quality"]["measured"]
    lines = [
        "# rocket bench",
        "",
        f"{meta['date']}; {meta['machine']}; `{meta['command']}` ({meta['mode']} mode, "
        f"{meta.get('bench_wall_seconds', 'n/a')} s).",
        "",
        *quality_lines(result["quality"]),
    ]
    sweep = result["sweep"]
    lines += [
        "## Light-net sweep",
        "",
        "| light net | AUC | GAUC | latency b512 ms | latency b1 ms |",
        "|---|---|---|---|---|",
    ]
    for p in sweep["points"]:
        lines.append(
            f"| rocket {p['name']} | {_pm(p['auc'])} | {_pm(p['gauc'])} | "
            f"{_fmt(p['latency_ms_b512'], 3)} | {_fmt(p['latency_ms_b1'], 3)} |"
        )
    for name in (LIGHT_ALONE, BOOSTER_ALONE):
        e = sweep[name]
        lines.append(
            f"| {name} | {_pm(e['auc'])} | {_pm(e['gauc'])} | "
            f"{_fmt(e['latency_ms_b512'], 3)} | {_fmt(e['latency_ms_b1'], 3)} |"
        )
    serving = result["serving"]
    lines += [
        "",
        "## Serving (median / p99 ms, examples/s)",
        "",
        "| batch | light | booster | parse floor |",
        "|---|---|---|---|",
    ]
    for size, entry in sorted(serving["batches"].items(), key=lambda kv: int(kv[0])):
        cells = [
            f"{entry[n]['median_ms']:.3f} / {entry[n]['p99_ms']:.3f} ms, "
            f"{entry[n]['examples_per_second']:.0f}/s"
            for n in ("light", "booster", "parse_floor")
        ]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"light/booster b512 {_fmt(serving['light_over_booster_latency_b512'])}, "
        f"b1 {_fmt(serving['light_over_booster_latency_b1'])}; light/parse floor b512 "
        f"{_fmt(serving['light_over_parse_floor_b512'])}, b1 "
        f"{_fmt(serving['light_over_parse_floor_b1'])}.",
    ]
    training = result["training"]
    lines += [
        "",
        "## Training (same cached batches, interleaved rounds)",
        "",
        "| variant | examples/s | ms/step |",
        "|---|---|---|",
    ]
    for name, entry in training["variants"].items():
        lines.append(
            f"| {name} | {entry['examples_per_second']:.0f} | {entry['ms_per_step']:.2f} |"
        )
    lines += [
        "",
        f"rocket_over_booster_time {_fmt(training['rocket_over_booster_time'])}, "
        f"rocket_over_separate_time {_fmt(training['rocket_over_separate_time'])}.",
        "",
        "## Pipeline (`rocket run`, seconds per component)",
        "",
    ]
    pipe = result["pipeline"]
    apart = pipe.get("measured", {})
    if apart.get("command") not in (None, meta["command"]):  # merged from a run of its own
        lines += [f"Measured apart from the rest: `{apart['command']}`, {apart['date']}.", ""]
    if "component_seconds" in pipe:
        lines += pipeline_table(pipe, result.get("pipeline_at_size"))
    else:
        lines.append(f"skipped: {pipe.get('skipped')}")
    if "scale" in result:
        lines += ["", *scale_benchmark.markdown_lines(result["scale"])]
    lines += targets_lines(result, ("quality", "serving", "training"))
    return "\n".join(lines) + "\n"
