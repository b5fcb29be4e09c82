"""The scale part's child process: one measured step, Transform or training, run by the
parent (pipeline.bench.scale) as `python -m pipeline.bench.scale_worker transform|train
...` so that its Beam workers are its children and its memory is its own. The parent
never imports this module."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import rocket_config
import rocket_seed

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipeline.bench.settings import ScaleSettings
from pipeline.bench.transform import ExampleFiles, run_tft

TRANSFORMED_PREFIX = "transformed_examples"
TRANSFORM_FN_DIR = "transform_output"


def _count_records(pattern: str) -> int:
    import tensorflow as tf

    files = tf.io.gfile.glob(pattern)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=2)
    # In batches: one reduce step a record takes ~40 µs, one a batch ~10x less a record.
    batches = dataset.batch(8192)
    return int(batches.reduce(np.int64(0), lambda n, b: n + tf.size(b, tf.int64)).numpy())


def run_transform(raw_pattern: str, output: Path, workers: int) -> dict:
    """TFT analyze + transform as TFX's Transform runs them (statistics disabled, as in
    the project's pipeline): analysis pass, a second read to transform, gzipped
    transformed tf.Examples and the transform graph under `output`."""
    import rocket_preprocessing
    import tensorflow_transform as tft

    config = rocket_seed.default_config()
    shutil.rmtree(output, ignore_errors=True)
    seconds = run_tft(
        config,
        raw_pattern,
        output / TRANSFORM_FN_DIR,
        output / "tmp",
        [
            "--runner=DirectRunner",
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}",
        ],
        transformed_prefix=output / TRANSFORMED_PREFIX,
    )
    shutil.rmtree(output / "tmp", ignore_errors=True)
    tft_output = tft.TFTransformOutput(str(output / TRANSFORM_FN_DIR))
    return {
        "pipeline_seconds": round(seconds, 2),
        "transformed_rows": _count_records(str(output / f"{TRANSFORMED_PREFIX}*")),
        "vocabulary_sizes": {
            f.name: tft_output.vocabulary_size_by_name(rocket_preprocessing.vocabulary_name(f.name))
            for f in config.model_features()
            if rocket_preprocessing.uses_vocabulary(f)
        },
    }


def _fold_ids(features: dict, label, rows: dict[str, int]):
    """The ids of the capped features folded into their capped tables (id mod rows)."""
    import tensorflow as tf
    from rocket_preprocessing import transformed_name

    features = dict(features)
    for name, size in rows.items():
        ids = features[transformed_name(name)]
        features[transformed_name(name)] = tf.SparseTensor(
            ids.indices, ids.values % size, ids.dense_shape
        )
    return features, label


def run_training(
    transform_dir: Path,
    settings: ScaleSettings,
    optimizer: str = "adam",
    table_rows: int | None = None,
) -> dict:
    """The rocket model with the Transform output's table sizes, trained through the
    Trainer's input path with `optimizer`; examples/s over the steps after the warm-up.
    With `table_rows`, every table is capped to that many rows and the ids are folded
    into it: the same data, batches and model, only the tables are small (the reference
    the large tables' examples/s is compared with)."""
    import rocket_data
    import rocket_memory
    import rocket_model
    import rocket_training
    import tensorflow_transform as tft
    import tf_keras as keras

    total = settings.warmup_steps + settings.train_steps
    config = rocket_seed.default_config(
        batch_size=settings.batch_size, train_steps=total, optimizer=optimizer
    )
    config = rocket_config.for_train_rows(config, settings.rows)
    tft_output = tft.TFTransformOutput(str(transform_dir / TRANSFORM_FN_DIR))
    features = config.model_features()
    sizes = rocket_training.table_sizes(config, tft_output)
    capped = {n: table_rows for n, size in sizes.items() if table_rows and size > table_rows}
    sizes.update(capped)
    memory = rocket_memory.embedding_memory(features, sizes)
    print(rocket_memory.format_embedding_memory(memory), flush=True)
    keras.utils.set_random_seed(settings.seed)
    model = rocket_model.build_model(config, sizes)
    dataset = rocket_data.make_dataset(
        str(transform_dir / f"{TRANSFORMED_PREFIX}*"),
        ExampleFiles(),
        tft_output,
        settings.batch_size,
        num_epochs=None,
        shuffle=True,
        shuffle_seed=settings.seed,
    )
    if capped:
        dataset = dataset.map(lambda f, label: _fold_ids(f, label, capped))
    marks: dict[int, float] = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 in (settings.warmup_steps, total):
                marks[batch + 1] = time.perf_counter()

    guard = rocket_training.ProgressAndNanGuard(total, 50, settings.batch_size)
    started = time.time()
    history = model.fit(
        dataset, epochs=1, steps_per_epoch=total, verbose=0, callbacks=[guard, Clock()]
    )
    seconds = marks[total] - marks[settings.warmup_steps]
    mib = 2**20
    sizes_mb = {t.feature: t.total_bytes / mib for t in memory}
    return {
        "optimizer": optimizer,
        "table_sizes": sizes,
        "embedding_memory_estimate_mb": {
            "weights": round(sum(t.weight_bytes for t in memory) / mib, 1),
            "adam_slots": round(sum(t.slot_bytes for t in memory) / mib, 1),
            "total": round(sum(t.total_bytes for t in memory) / mib, 1),
            "user_id": round(sizes_mb["user_id"], 1),
            "adgroup_id": round(sizes_mb["adgroup_id"], 1),
        },
        "embedding_memory_table": rocket_memory.format_embedding_memory(memory).splitlines(),
        "fit_seconds": round(time.time() - started, 2),
        "timed_seconds": round(seconds, 3),
        "examples_per_second": round(settings.train_steps * settings.batch_size / seconds, 1),
        "final_loss": round(float(history.history["total_loss"][-1]), 5),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench.scale_worker")
    parser.add_argument("step", choices=("transform", "train"))
    parser.add_argument("--raw", help="raw TFRecord pattern (transform)")
    parser.add_argument("--output", required=True, help="transform output folder")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settings", help="ScaleSettings as JSON (train)")
    parser.add_argument("--optimizer", default="adam", help="train_config optimizer (train)")
    parser.add_argument(
        "--small-tables", action="store_true", help="cap tables at small_table_rows (train)"
    )
    parser.add_argument("--result", required=True, help="JSON file for the result")
    args = parser.parse_args(argv)
    if args.step == "transform":
        result = run_transform(args.raw, Path(args.output), args.workers)
    else:
        raw = json.loads(args.settings)
        settings = ScaleSettings(**{**raw, "workers": tuple(raw["workers"])})
        cap = settings.small_table_rows if args.small_tables else None
        result = run_training(Path(args.output), settings, args.optimizer, cap)
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
