"""Training the pair: the loop with its progress log and NaN guard, the validation checks
that keep the best weights, the linear baseline, the Trainer's in-graph evaluation and
the exports (rocket_export) on the chief. What it reads is rocket_data's; the memory
estimate printed first is rocket_memory's."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import rocket_config
import rocket_data
import rocket_export
import rocket_memory
import rocket_model
import rocket_optimizers
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from rocket_distribution import WorkerRole, barrier
from rocket_preprocessing import table_size


class TrainingError(RuntimeError):
    """Training cannot give a usable model (e.g. the loss is no longer finite)."""


class ProgressAndNanGuard(keras.callbacks.Callback):
    """Prints progress every few steps and stops with an error on a non-finite loss."""

    def __init__(self, total_steps: int, every: int, batch_size: int, report: bool = True,
                 prefix: str = "[Trainer]"):  # fmt: skip
        super().__init__()
        self.report = report  # False on non-chief workers: one progress log per cluster
        self.prefix = prefix  # whose training the lines are: the Trainer's, a Tuner trial's
        self.total_steps = total_steps
        self.every = max(1, every)
        self.batch_size = batch_size
        self.started: float | None = None  # after the first step: tracing is not training
        self.step = 0  # across fit calls and epochs (validation checks end an epoch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss = float(logs.get("total_loss", 0.0))
        self.step += 1
        step = self.step
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
                f"{self.prefix} step {step}/{self.total_steps} loss={loss:.4f} "
                f"light_ce={float(logs.get('light_ce', 0)):.4f} "
                f"hint={float(logs.get('hint_loss', 0)):.4f} "
                f"train_auc_light={float(logs.get('auc_light', 0)):.4f} "
                f"train_auc_booster={float(logs.get('auc_booster', 0)):.4f} "
                f"({rate:.0f} examples/s)",
                flush=True,
            )


class BestModelKeeper(keras.callbacks.Callback):
    """After each validation check (the end of a Keras epoch of `every` steps): keeps
    the weights with the best validation AUC of the net that serves (the light net; the
    booster when it is trained alone) (keep "best"), and asks training to stop once that
    AUC has not improved for `patience` steps (early_stop).
    EasyRec's export_config: exporter_type best, enable_early_stop, max_check_steps."""

    def __init__(self, every: int, keep_best: bool, early_stop: bool, patience: int,
                 report: bool = True, prefix: str = "[Trainer]",
                 net: str = rocket_model.LIGHT):  # fmt: skip
        super().__init__()
        self.net = net
        self.monitor = f"val_auc_{net}"  # the model's metric of that net's AUC
        self.every, self.keep_best = every, keep_best
        self.early_stop, self.patience, self.report = early_stop, patience, report
        self.prefix = prefix
        self.step = 0
        self.best: float | None = None
        self.best_step = 0
        self.best_weights: list | None = None
        self.checks: list[tuple[int, float]] = []
        self.stop_reason = ""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            raise TrainingError(
                f"the validation check at step {self.step} gave {value!r}: no validation "
                "rows? (train_config validation_fraction holds out that share of the train "
                "split; the split may be too small)"
            )
        value = float(value)
        self.checks.append((self.step, value))
        if self.best is None or value > self.best:
            self.best, self.best_step = value, self.step
            if self.keep_best:
                self.best_weights = self.model.get_weights()
        if self.report:
            print(
                f"{self.prefix} step {self.step}: validation auc_{self.net}={value:.4f} "
                f"(best {self.best:.4f} at step {self.best_step})",
                flush=True,
            )
        if self.early_stop and self.step - self.best_step >= self.patience:
            self.stop_reason = (
                f"early stop: no better validation AUC in the {self.step - self.best_step} "
                f"steps after step {self.best_step}"
            )
            self.model.stop_training = True

    def restore_best(self) -> int:
        """Put the kept weights back (keep "best"); the step whose weights are exported."""
        if self.keep_best and self.best_weights is not None and self.best_step != self.step:
            self.model.set_weights(self.best_weights)
            return self.best_step
        return self.step

    def summary(self, exported_step: int) -> dict:
        return {
            "exported_step": exported_step,
            "stopped_at_step": self.step,
            "stop_reason": self.stop_reason or "reached train_steps",
            f"best_validation_auc_{self.net}": self.best,
            "best_validation_step": self.best_step,
            "validation_checks": [[step, round(auc, 6)] for step, auc in self.checks],
        }


def table_sizes(config: rocket_config.RocketConfig, tft_output: tft.TFTransformOutput) -> dict:
    """Rows of each feature's embedding table, from its TFT vocabulary or bucket count."""
    return {f.name: table_size(f, tft_output) for f in config.model_features()}


def train_and_export(
    config: rocket_config.RocketConfig,
    tft_output: tft.TFTransformOutput,
    read_splits: Callable[[], rocket_data.Splits],
    train_steps: int,
    serving_model_dir: str,
    model_run_dir: str,
    strategy: tf.distribute.Strategy | None = None,
    role: WorkerRole | None = None,
    hyperparameters: dict | None = None,
) -> dict:
    """Train the pair, export light (serving) and booster, return the eval metrics.
    `read_splits` gives fresh datasets (rocket_data.read_splits): the pair and the linear
    baseline each read their own, so both see the same batches from the first (a second
    iterator of one seeded shuffle continues from the epochs the first consumed, which
    its prefetching makes timing-dependent). With validation rows, training checks the
    light net on them as config.train says (keep, early_stop) and the metrics say which
    step was exported and why it stopped; `hyperparameters` (a Tuner's, already in
    `config`) are recorded with them.

    Every worker of a multi-worker strategy runs all of this (fit, evaluate and the saves
    are collective); only the chief writes to `serving_model_dir` and `model_run_dir`,
    the others save to a temporary folder that is deleted afterwards."""
    strategy = strategy or tf.distribute.get_strategy()
    role = role or WorkerRole()
    features = config.model_features()
    sizes = table_sizes(config, tft_output)
    slots, slot_names = rocket_optimizers.slots(config.train)
    memory = rocket_memory.embedding_memory(features, sizes, slots)
    slot_names = f"{config.train.optimizer}'s {slot_names}"
    print(f"[Trainer] {rocket_memory.format_embedding_memory(memory, slot_names)}", flush=True)
    if role.multi_worker:
        print(
            f"[Trainer] {role.label()} of {role.num_workers} workers, "
            f"{strategy.num_replicas_in_sync} replicas; global batch {config.train.batch_size}",
            flush=True,
        )
    splits = read_splits()
    model, training = fit_model(
        config, sizes, splits.train, splits.validation, train_steps, strategy, role
    )
    evaluation = model.evaluate(splits.eval, verbose=0, return_dict=True)
    metrics = {name: float(value) for name, value in evaluation.items()}
    if not all(math.isfinite(v) for v in metrics.values()):
        raise TrainingError(f"non-finite evaluation metrics {metrics}; nothing is exported")
    metrics["training"] = training
    if hyperparameters:
        training["hyperparameters"] = hyperparameters
    if role.is_chief:
        print(
            f"[Trainer] eval: auc_light={metrics['auc_light']:.4f} "
            f"auc_booster={metrics['auc_booster']:.4f}",
            flush=True,
        )
    if config.train.linear_baseline:
        metrics["linear_baseline"] = train_linear_baseline(
            config, sizes, read_splits(), train_steps, strategy, role
        )
        if role.is_chief:
            print(
                f"[Trainer] linear baseline (a logistic regression over the same ids and tag "
                f"tokens, same rows and loop): eval auc={metrics['linear_baseline']['auc']:.4f} "
                f"against the light net's {metrics['auc_light']:.4f}",
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


def train_linear_baseline(
    config: rocket_config.RocketConfig,
    sizes: dict[str, int],
    splits: rocket_data.Splits,
    train_steps: int,
    strategy: tf.distribute.Strategy,
    role: WorkerRole,
) -> dict:
    """rocket_config.LINEAR_MODEL trained by fit_model on fresh datasets of the pair's
    rows (same seed, batches, validation checks and early stop): its eval AUC and what
    training kept."""
    changes = {f"model.{name}": value for name, value in rocket_config.LINEAR_MODEL.items()}
    linear = rocket_config.with_changes(config, **changes)
    model, training = fit_model(
        linear, sizes, splits.train, splits.validation, train_steps, strategy, role,
        prefix="[Trainer] linear baseline:",
    )  # fmt: skip
    evaluation = model.evaluate(splits.eval, verbose=0, return_dict=True)
    return {
        "auc": float(evaluation["auc_light"]),
        "exported_step": training["exported_step"],
        "stop_reason": training["stop_reason"],
    }


def fit_model(
    config: rocket_config.RocketConfig,
    sizes: dict[str, int],
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset | None,
    train_steps: int,
    strategy: tf.distribute.Strategy,
    role: WorkerRole,
    prefix: str = "[Trainer]",
) -> tuple[rocket_model.RocketLaunchingModel, dict]:
    """A seeded pair built under `strategy` and trained as config.train says (validation
    checks, kept weights, early stop when there is validation data); the Trainer's
    training and every Tuner trial's. Returns the model and what training kept."""
    keras.utils.set_random_seed(config.train.seed)
    with strategy.scope():
        model = rocket_model.build_model(config, sizes)
    guard = ProgressAndNanGuard(
        train_steps, config.train.log_every_steps, config.train.batch_size, role.is_chief, prefix
    )
    if validation_dataset is None:
        model.fit(
            train_dataset, epochs=1, steps_per_epoch=train_steps, verbose=0, callbacks=[guard]
        )
        training = {"exported_step": train_steps, "stopped_at_step": train_steps,
                    "stop_reason": "reached train_steps (no validation data)"}  # fmt: skip
    else:
        training = fit_with_validation(
            model, train_dataset, validation_dataset, train_steps, config.train, guard,
            role.is_chief, prefix,
        )  # fmt: skip
    return model, training


def fit_with_validation(
    model: keras.Model,
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset,
    train_steps: int,
    train: rocket_config.TrainConfig,
    guard: ProgressAndNanGuard,
    report: bool,
    prefix: str = "[Trainer]",
) -> dict:
    """Keras epochs of one check interval each, validation after each; the kept weights
    put back at the end. Returns what was kept and why training stopped."""
    train = dataclasses.replace(train, train_steps=train_steps)  # TrainArgs' count wins
    every = train.check_every()
    checks = -(-train_steps // every)
    guard.total_steps = checks * every
    keeper = BestModelKeeper(
        every, train.keep == "best", train.early_stop, train.patience(), report, prefix,
        net=rocket_model.served_net(model.rocket),
    )  # fmt: skip
    model.fit(
        train_dataset,
        epochs=checks,
        steps_per_epoch=every,
        validation_data=validation_dataset,
        verbose=0,
        callbacks=[guard, keeper],
    )
    exported = keeper.restore_best()
    summary = keeper.summary(exported)
    if report:
        which = "best validation AUC" if exported == keeper.best_step else "final weights"
        print(
            f"{prefix} keeping the weights of step {exported} ({which}); {summary['stop_reason']}",
            flush=True,
        )
    return summary
