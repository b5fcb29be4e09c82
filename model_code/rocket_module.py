"""TFX module_file of the Rocket Launching pipeline: `preprocessing_fn` and `run_fn`.

Hand this file to a stock `tfx.components.Transform` and `tfx.components.Trainer` with
`custom_config={"rocket_config": RocketConfig.to_json()}` (or no custom_config for the
seed's defaults on EasyRec's Taobao columns). TFX packages every .py file of this folder,
which import each other as top-level modules.

The Trainer writes:
- `serving_model_dir` (Format-Serving): the light net only, with the TFT layer;
- `model_run_dir/booster`: the booster, exported the same way, for comparison;
- `model_run_dir/metrics.json`: both nets' AUC and losses on the eval split.

Training runs under the distribution strategy that `TF_CONFIG` describes (as Kubeflow's
TFJob and Vertex AI custom training set it): several workers train with
MultiWorkerMirroredStrategy, each on its shard of the data, and only the chief writes
the exports; without a cluster, the single-machine default strategy.
"""

from __future__ import annotations

import json
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
from rocket_preprocessing import CONFIG_KEY, LABEL_KEY, table_size
from rocket_preprocessing import preprocessing_fn as _preprocessing_fn
from tfx_bsl.public import tfxio

METRICS_FILE = "metrics.json"
BOOSTER_DIR = "booster"


def _config_from(custom_config: dict | None) -> rocket_config.RocketConfig:
    if custom_config and CONFIG_KEY in custom_config:
        return rocket_config.RocketConfig.from_json(custom_config[CONFIG_KEY])
    return rocket_config.default_config()


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """TFX Transform entry point (see rocket_preprocessing)."""
    config = _config_from(custom_config)
    return _preprocessing_fn(inputs, {CONFIG_KEY: config.to_json()})


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


class ClusterError(ValueError):
    """TF_CONFIG describes a cluster this trainer cannot run on; the message says why."""


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster: how many workers train and whether it is the
    chief, the one worker that writes the exports."""

    num_workers: int = 1
    task_type: str | None = None
    task_index: int = 0
    has_chief: bool = False  # without a 'chief' task, worker 0 is the chief

    @property
    def is_chief(self) -> bool:
        if self.task_type is None or self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.has_chief

    @property
    def multi_worker(self) -> bool:
        return self.num_workers > 1

    def label(self) -> str:
        return "single machine" if self.task_type is None else f"{self.task_type} {self.task_index}"


TRAINING_TASK_TYPES = ("chief", "worker")


def worker_role(tf_config: str | None = None) -> WorkerRole:
    """The role that TF_CONFIG (or `tf_config`) gives this process. Only synchronous
    data-parallel training is supported: chief and worker tasks, no parameter servers."""
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text.strip():
        return WorkerRole()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClusterError(f"TF_CONFIG is not valid JSON: {error}") from None
    cluster = parsed.get("cluster") or {}
    task = parsed.get("task") or {}
    if not cluster:
        return WorkerRole()
    unsupported = sorted(
        t for t, tasks in cluster.items() if tasks and t not in TRAINING_TASK_TYPES
    )
    if unsupported:
        raise ClusterError(
            f"TF_CONFIG cluster has task types {unsupported}: this trainer runs "
            "MultiWorkerMirroredStrategy, which takes only 'chief' and 'worker' tasks "
            "(no parameter servers, no side-car evaluator)"
        )
    task_type = task.get("type")
    if task_type not in TRAINING_TASK_TYPES:
        raise ClusterError(f"TF_CONFIG task type {task_type!r}: expected 'chief' or 'worker'")
    task_index = int(task.get("index", 0))
    if not 0 <= task_index < len(cluster.get(task_type) or []):
        raise ClusterError(
            f"TF_CONFIG task {task_type} {task_index}: the cluster has "
            f"{len(cluster.get(task_type) or [])} {task_type} task(s)"
        )
    num_workers = sum(len(cluster.get(t) or []) for t in TRAINING_TASK_TYPES)
    return WorkerRole(num_workers, task_type, task_index, has_chief=bool(cluster.get("chief")))


def make_strategy(role: WorkerRole) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy for a cluster of several workers (it reads TF_CONFIG
    itself), the default strategy otherwise. Create it before any other TensorFlow work:
    collective ops are configured when the strategy is built."""
    if role.multi_worker:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def shard_policy(
    file_pattern: list[str] | str, num_workers: int
) -> tf.data.experimental.AutoShardPolicy:
    """How the workers split a dataset: by file when every worker gets at least one file
    (each reads only its own), else by element (each reads everything and keeps its
    share). TF's AUTO does not fall back by itself: with fewer files than workers it
    fails, and TFX's Transform often writes a split as a single file."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = sum(len(tf.io.gfile.glob(pattern)) for pattern in patterns)
    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if files >= num_workers else policy.DATA


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
    memory = rocket_model.embedding_memory(features, table_sizes, slots)
    slot_names = f"{config.train.optimizer}'s {slot_names}"
    print(f"[Trainer] {rocket_model.format_embedding_memory(memory, slot_names)}", flush=True)
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
        _export(model, tft_output, config, metrics, train_steps, serving_model_dir, model_run_dir)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if role.multi_worker:
        _barrier(strategy)
    return metrics


def _barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait for every worker, the chief's exports included. TFX's Trainer executor checks
    on every worker, right after run_fn, that serving_model_dir exists: a worker must not
    return before the chief has written it."""
    one = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, one, axis=None)


def _export(
    model: rocket_model.RocketLaunchingModel,
    tft_output: tft.TFTransformOutput,
    config: rocket_config.RocketConfig,
    metrics: dict,
    train_steps: int,
    serving_model_dir: str,
    model_run_dir: str,
) -> None:
    label = config.label_field
    limit = config.max_field_bytes
    rocket_export.export_net(
        model.net_path(rocket_model.LIGHT), tft_output, label, serving_model_dir, limit
    )
    rocket_export.export_net(
        model.net_path(rocket_model.BOOSTER),
        tft_output,
        label,
        os.path.join(model_run_dir, BOOSTER_DIR),
        limit,
    )
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, METRICS_FILE), "w") as handle:
        handle.write(json.dumps({**metrics, "train_steps": train_steps}, indent=2))


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor), on one machine or on every worker of a
    TF_CONFIG cluster."""
    role = worker_role()
    strategy = make_strategy(role)  # first: multi-worker collectives are set up here
    config = _config_from(fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    train = config.train
    # A seeded shuffle: a rerun sees the same batches (with the seeded weights, the same
    # model), and under multi-worker training every worker reads the same order, so that
    # sharding by element gives each worker a disjoint part.
    shuffle_seed = train.seed
    train_sharding = eval_sharding = None
    if role.multi_worker:
        train_sharding = shard_policy(fn_args.train_files, role.num_workers)
        # Eval by element: every worker gets an even share of a finite split even when its
        # files differ in size.
        eval_sharding = tf.data.experimental.AutoShardPolicy.DATA
        print(f"[Trainer] train data sharded by {train_sharding.name}", flush=True)
    train_dataset = make_dataset(
        fn_args.train_files,
        fn_args.data_accessor,
        tft_output,
        train.batch_size,
        num_epochs=None,
        shuffle=True,
        shuffle_seed=shuffle_seed,
        auto_shard_policy=train_sharding,
    )
    eval_dataset = make_dataset(
        fn_args.eval_files,
        fn_args.data_accessor,
        tft_output,
        train.eval_batch_size,
        num_epochs=1,
        shuffle=False,
        auto_shard_policy=eval_sharding,
    )
    train_steps = fn_args.train_steps or train.train_steps
    train_and_export(
        config,
        tft_output,
        train_dataset,
        eval_dataset,
        train_steps,
        fn_args.serving_model_dir,
        fn_args.model_run_dir,
        strategy=strategy,
        role=role,
    )
