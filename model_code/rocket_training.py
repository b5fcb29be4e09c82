"""Training the pair: the input datasets, the loop with its progress log and NaN guard,
the Trainer's in-graph evaluation, and the exports (rocket_export) on the chief."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import rocket_config
import rocket_export
import rocket_model
import rocket_optimizers
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from rocket_config import FeatureConfig
from rocket_distribution import WorkerRole, barrier
from rocket_preprocessing import LABEL_KEY, table_size
from tfx_bsl.public import tfxio


class TrainingError(RuntimeError):
    """Training cannot give a usable model (e.g. the loss is no longer finite)."""


class ProgressAndNanGuard(keras.callbacks.Callback):
    """Prints progress every few steps and stops with an error on a non-finite loss."""

    def __init__(self, total_steps: int, every: int, batch_size: int, report: bool = True):
        super().__init__()
        self.report = report  # False on non-chief workers: one progress log per cluster
        self.total_steps = total_steps
        self.every = max(1, every)
        self.batch_size = batch_size
        self.started: float | None = None  # after the first step: tracing is not training

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss = float(logs.get("total_loss", 0.0))
        step = batch + 1
        if self.started is None:
            self.started = time.time()
        if not math.isfinite(loss):
            raise TrainingError(
                f"the training loss became {loss} at step {step}; nothing is exported "
                "(lower the learning rate or check the input data)"
            )
        if self.report and (step % self.every == 0 or step == self.total_steps):
            elapsed = time.time() - self.started
            rate = (step - 1) * self.batch_size / elapsed if elapsed > 0 else float("nan")
            print(
                f"[Trainer] step {step}/{self.total_steps} loss={loss:.4f} "
                f"light_ce={float(logs.get('light_ce', 0)):.4f} "
                f"hint={float(logs.get('hint_loss', 0)):.4f} "
                f"train_auc_light={float(logs.get('auc_light', 0)):.4f} "
                f"train_auc_booster={float(logs.get('auc_booster', 0)):.4f} "
                f"({rate:.0f} examples/s)",
                flush=True,
            )


def make_dataset(
    file_pattern: list[str] | str,
    data_accessor,
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    num_epochs: int | None,
    shuffle: bool,
    shuffle_seed: int | None = None,
    auto_shard_policy: tf.data.experimental.AutoShardPolicy | None = None,
) -> tf.data.Dataset:
    """Batches of transformed features from TFX's data accessor. `batch_size` is the global
    batch: under a multi-worker strategy Keras splits it over the replicas and shards the
    dataset over the workers by `auto_shard_policy`. Element sharding needs every worker
    to read the same order, hence `shuffle_seed` for multi-worker runs."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=LABEL_KEY,
            num_epochs=num_epochs,
            shuffle=shuffle,
            shuffle_seed=shuffle_seed,
        ),
        tft_output.transformed_metadata.schema,
    )
    if auto_shard_policy is not None:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = auto_shard_policy
        dataset = dataset.with_options(options)
    return dataset


def train_and_export(
    config: rocket_config.RocketConfig,
    tft_output: tft.TFTransformOutput,
    train_dataset: tf.data.Dataset,
    eval_dataset: tf.data.Dataset,
    train_steps: int,
    serving_model_dir: str,
    model_run_dir: str,
    strategy: tf.distribute.Strategy | None = None,
    role: WorkerRole | None = None,
) -> dict:
    """Train the pair, export light (serving) and booster, return the eval metrics.

    Every worker of a multi-worker strategy runs all of this (fit, evaluate and the saves
    are collective); only the chief writes to `serving_model_dir` and `model_run_dir`,
    the others save to a temporary folder that is deleted afterwards."""
    strategy = strategy or tf.distribute.get_strategy()
    role = role or WorkerRole()
    keras.utils.set_random_seed(config.train.seed)
    features = config.model_features()
    table_sizes = {f.name: table_size(f, tft_output) for f in features}
    slots, slot_names = rocket_optimizers.slots(config.train)
    memory = embedding_memory(features, table_sizes, slots)
    slot_names = f"{config.train.optimizer}'s {slot_names}"
    print(f"[Trainer] {format_embedding_memory(memory, slot_names)}", flush=True)
    if role.multi_worker:
        print(
            f"[Trainer] {role.label()} of {role.num_workers} workers, "
            f"{strategy.num_replicas_in_sync} replicas; global batch {config.train.batch_size}",
            flush=True,
        )
    with strategy.scope():
        model = rocket_model.build_model(config, table_sizes)
    guard = ProgressAndNanGuard(
        train_steps, config.train.log_every_steps, config.train.batch_size, role.is_chief
    )
    model.fit(train_dataset, epochs=1, steps_per_epoch=train_steps, verbose=0, callbacks=[guard])
    evaluation = model.evaluate(eval_dataset, verbose=0, return_dict=True)
    metrics = {name: float(value) for name, value in evaluation.items()}
    if not all(math.isfinite(v) for v in metrics.values()):
        raise TrainingError(f"non-finite evaluation metrics {metrics}; nothing is exported")
    if role.is_chief:
        print(
            f"[Trainer] eval: auc_light={metrics['auc_light']:.4f} "
            f"auc_booster={metrics['auc_booster']:.4f}",
            flush=True,
        )
    scratch = None
    if not role.is_chief:
        # The usual Keras multi-worker pattern: every worker takes part in the saves (they
        # read variables collectively), only the chief's land where TFX expects them.
        scratch = tempfile.mkdtemp(prefix=f"rocket-{role.task_type}-{role.task_index}-")
        serving_model_dir = os.path.join(scratch, "serving")
        model_run_dir = os.path.join(scratch, "model_run")
    try:
        rocket_export.export_pair(
            model, tft_output, config, metrics, train_steps, serving_model_dir, model_run_dir
        )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if role.multi_worker:
        barrier(strategy)
    return metrics


# --- memory of the embedding tables, printed before training -------------------------

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class TableMemory:
    """One embedding table: rows x dim float32 weights, and the optimizer's `slots` copies
    of that shape (Adam's m and v: 2; rocket_optimizers.slots)."""

    feature: str
    rows: int
    dim: int
    slots: int = 2

    @property
    def weight_bytes(self) -> int:
        return self.rows * self.dim * FLOAT32_BYTES

    @property
    def slot_bytes(self) -> int:
        return self.slots * self.weight_bytes

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.slot_bytes


def embedding_memory(
    features: tuple[FeatureConfig, ...], table_sizes: dict[str, int], slots: int = 2
) -> list[TableMemory]:
    """Per feature, what its table and the optimizer's slots take, so a too-large id space
    shows up before training starts rather than as an out-of-memory kill."""
    return [TableMemory(f.name, table_sizes[f.name], f.embedding_dim, slots) for f in features]


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def format_embedding_memory(tables: list[TableMemory], slot_names: str = "Adam's m and v") -> str:
    """A table of the estimate, with what is and is not counted."""
    slots = tables[0].slots if tables else 0
    lines = [
        "estimated memory of the embedding tables, per worker (each worker holds a full "
        f"copy): rows x dim x 4 bytes (float32) + the optimizer's slots: {slot_names} "
        f"({slots}x the table); "
        "not counted: dense layers, TFT vocabulary lookup tables, per-batch gradients",
        f"  {'feature':<24}{'rows':>12}{'dim':>5}{'weights':>14}{'+ slots':>14}{'total':>14}",
    ]
    for t in tables:
        lines.append(
            f"  {t.feature:<24}{t.rows:>12,}{t.dim:>5}{_mib(t.weight_bytes):>14}"
            f"{_mib(t.slot_bytes):>14}{_mib(t.total_bytes):>14}"
        )
    weights = sum(t.weight_bytes for t in tables)
    slot_total = sum(t.slot_bytes for t in tables)
    rows = sum(t.rows for t in tables)
    lines.append(
        f"  {'total':<24}{rows:>12,}{'':>5}{_mib(weights):>14}{_mib(slot_total):>14}"
        f"{_mib(weights + slot_total):>14}"
    )
    return "\n".join(lines)
