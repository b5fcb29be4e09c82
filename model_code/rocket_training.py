"""Training the pair: the loop with its progress log and NaN guard, the validation checks
that keep the best weights, the linear baseline (trained in the same pass), the
Trainer's in-graph evaluation and the exports (rocket_export) on the chief. What it
reads is rocket_data's; the memory estimate printed first is rocket_memory's."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import rocket_blend
import rocket_config
import rocket_data
import rocket_export
import rocket_logistic
import rocket_memory
import rocket_metrics
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
        for name, value in logs.items():  # the pair's, and the linear baseline's beside it
            if name.endswith("total_loss") and not math.isfinite(float(value)):
                whose = "" if name == "total_loss" else " of the linear baseline"
                raise TrainingError(
                    f"the training loss{whose} became {float(value)} at step {step}; nothing "
                    "is exported (lower the learning rate or check the input data)"
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


# Above this standard error of a check's AUC the validation hold-out is too small to
# pick a step by: the Trainer says so (the real sample's 800 rows hold ~43 clicks: ±0.046
# at AUC 0.53; 10,000 generated rows, ~40 clicks at 0.75: ±0.045; the default run's
# 4,000 rows, ~200 clicks at 0.80: ±0.019).
NOISY_CHECK_AUC_ERROR = 0.03


def validation_counts(model: keras.Model, net: str) -> tuple[int, int] | None:
    """Clicks and non-clicks of the rows the last validation check scored: the counts of
    the net's AUC metric at its lowest threshold, where every row is called a click (None
    for a model without that metric)."""
    metric = getattr(model, f"auc_{net}", None)
    if metric is None or not hasattr(metric, "true_positives"):
        return None
    return int(metric.true_positives[0]), int(metric.false_positives[0])


class BestModelKeeper(keras.callbacks.Callback):
    """After each validation check (the end of a Keras epoch of `every` steps): keeps
    the weights with the best validation AUC of the net that serves (the light net; the
    booster when it is trained alone) (keep "best"), and asks training to stop once that
    AUC has not improved for `patience` steps (early_stop).
    EasyRec's export_config: exporter_type best, enable_early_stop, max_check_steps.

    In a joint fit (PairWithLinear) each member model has its own keeper: `target` is the
    model whose weights it keeps, `log_prefix` where its metrics are in the logs, and
    `group` the keepers that must all have stopped before training ends. A keeper that
    has stopped ignores the later checks and, at the end, puts back the weights it
    would have ended with alone."""

    def __init__(self, every: int, keep_best: bool, early_stop: bool, patience: int,
                 report: bool = True, prefix: str = "[Trainer]",
                 net: str = rocket_model.LIGHT, target: keras.Model | None = None,
                 log_prefix: str = ""):  # fmt: skip
        super().__init__()
        self.net = net
        self.monitor = f"val_{log_prefix}auc_{net}"  # the model's metric of that net's AUC
        self.every, self.keep_best = every, keep_best
        self.early_stop, self.patience, self.report = early_stop, patience, report
        self.prefix = prefix
        self.target = target
        self.group: list[BestModelKeeper] = [self]
        self.step = 0  # steps trained, counted on after this keeper stopped
        self.stopped_step: int | None = None  # where this keeper stopped, when it did
        self.best: float | None = None
        self.best_step = 0
        self.best_weights: list | None = None
        self.stopped_weights: list | None = None  # keep "final" while others go on
        self.checks: list[tuple[int, float]] = []
        self.validation: dict = {}  # rows, clicks, a check's AUC standard error
        self.stop_reason = ""

    def _kept(self) -> keras.Model:
        return self.target if self.target is not None else self.model

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.stopped_step is not None:
            return
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            raise TrainingError(
                f"the validation check at step {self.step} gave {value!r}: no validation "
                "rows? (train_config validation_fraction holds out that share of the train "
                "split; the split may be too small)"
            )
        value = float(value)
        if not self.checks:
            self._describe_validation(value)
        self.checks.append((self.step, value))
        if self.best is None or value > self.best:
            self.best, self.best_step = value, self.step
            if self.keep_best:
                self.best_weights = self._kept().get_weights()
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
            self.stopped_step = self.step
            if not self.keep_best and len(self.group) > 1:
                self.stopped_weights = self._kept().get_weights()
            if all(keeper.stopped_step is not None for keeper in self.group):
                self.model.stop_training = True

    def _describe_validation(self, auc: float) -> None:
        """At the first check: how many clicks the validation rows hold and how precisely
        a check's AUC is known; a warning when the checks are too noisy to pick a step
        by. Said once per fit (the first keeper; the others check the same rows)."""
        counts = validation_counts(self._kept(), self.net)
        if counts is None:
            return
        clicks, others = counts
        error = rocket_metrics.auc_standard_error(auc, clicks, others)
        one_class = clicks == 0 or others == 0
        self.validation = {
            "rows": clicks + others,
            "clicks": clicks,
            "check_auc_standard_error": None if one_class else round(error, 4),
        }
        if one_class:  # no AUC on one class: the checks read 0 and cannot pick a step
            self.keep_best = self.early_stop = False
        if not self.report or self is not self.group[0]:
            return
        if one_class:
            print(
                f"WARNING: {self.prefix} the validation hold-out ({clicks + others:,} rows) "
                f"holds {'no click' if clicks == 0 else 'only clicks'}: no AUC, so the checks "
                "cannot pick a step; training runs its whole budget and keeps the last "
                "step's weights. Bring more rows, or hold out a larger share "
                "(train_config validation_fraction).",
                flush=True,
            )
            return
        print(
            f"{self.prefix} validation hold-out: {clicks + others:,} rows, {clicks:,} clicks; "
            f"a check's AUC is known to ±{error:.3f} (one standard error)",
            flush=True,
        )
        if error > NOISY_CHECK_AUC_ERROR:
            print(
                f"WARNING: {self.prefix} the validation hold-out holds too few clicks to pick "
                f"a step by: checks within ±{error:.3f} of each other differ by chance, so "
                "the kept step and the early stop follow that noise. Bring more rows, or hold "
                "out a larger share (train_config validation_fraction).",
                flush=True,
            )

    def restore_best(self) -> int:
        """Put the kept weights back (keep "best"), or the weights of the step where this
        keeper stopped while the others trained on; the step whose weights are exported."""
        if self.keep_best and self.best_weights is not None:
            if self.best_step != self.step:
                self._kept().set_weights(self.best_weights)
            return self.best_step
        if self.stopped_weights is not None and self.stopped_step != self.step:
            self._kept().set_weights(self.stopped_weights)
        return self.stopped_step or self.step

    def summary(self, exported_step: int) -> dict:
        return {
            "exported_step": exported_step,
            "stopped_at_step": self.stopped_step or self.step,
            "stop_reason": self.stop_reason or "reached train_steps",
            f"best_validation_auc_{self.net}": self.best,
            "best_validation_step": self.best_step,
            "validation_checks": [[step, round(auc, 6)] for step, auc in self.checks],
            **({"validation": self.validation} if self.validation else {}),
        }


LINEAR_LOGS = "linear_"  # the linear baseline's metrics in a joint fit's logs
# How fit_linear_alone fits a logistic regression whose L2 it cross-validated.
SCIKIT_LEARN_FIT = "scikit-learn's LogisticRegressionCV, refit at the chosen C on every train row"


class PairWithLinear(keras.Model):
    """The pair and the linear baseline trained in one pass: each step updates both on the
    same batch, each with its own optimizer (their variables are apart, so neither's
    gradients reach the other), and each check validates both. One read of the data and
    one trace of the steps instead of a second fit: the second fit cost about a quarter
    of the Trainer's time on the default run (issue 26). The linear baseline's metrics
    are the pair's names with LINEAR_LOGS before them."""

    def __init__(self, pair: rocket_model.RocketLaunchingModel,
                 linear: rocket_model.RocketLaunchingModel, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.pair, self.linear = pair, linear

    @property
    def metrics(self) -> list:
        return [*self.pair.metrics, *self.linear.metrics]

    def call(self, features: dict, training: bool = False) -> dict:
        return self.pair(features, training=training)

    @staticmethod
    def _joined(pair_logs: dict, linear_logs: dict) -> dict:
        return {**pair_logs, **{LINEAR_LOGS + name: v for name, v in linear_logs.items()}}

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data: tuple) -> dict:
        return self._joined(self.pair.train_step(data), self.linear.train_step(data))

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data: tuple) -> dict:
        return self._joined(self.pair.test_step(data), self.linear.test_step(data))


def table_sizes(config: rocket_config.RocketConfig, tft_output: tft.TFTransformOutput) -> dict:
    """Rows of each feature's embedding table, from its TFT vocabulary or bucket count."""
    return {f.name: table_size(f, tft_output) for f in config.model_features()}


def cross_validated_linear_l2(
    config: rocket_config.RocketConfig,
    splits: rocket_data.Splits,
    sizes: dict[str, int],
    report: bool = True,
) -> rocket_logistic.L2Choice | None:
    """When config.train asks for it (linear_l2_by_cross_validation, the default below
    rocket_config.LOGISTIC_BASELINE_MAX_ROWS train rows), the linear baseline's L2 as
    scikit-learn's LogisticRegressionCV chooses it on the rows the baseline trains on;
    None otherwise, or, said on the console, when those rows have too few clicks for its
    folds (the row-count L2 stays)."""
    if not (config.train.linear_l2_by_cross_validation and splits.train_once is not None):
        return None
    try:
        choice = rocket_logistic.choose_l2(splits.train_once(), sizes)
    except ValueError as error:
        if report:
            print(f"[Trainer] linear baseline: {error}; its L2 stays "
                  f"{config.train.linear_weight_regularization:.3g}", flush=True)  # fmt: skip
        return None
    if report:
        print(
            f"[Trainer] linear baseline: C={choice.c:.3g} chosen by {rocket_logistic.CHOICE} "
            f"(scikit-learn's LogisticRegressionCV on the same one-hot ids, "
            f"{choice.rows:,} rows, {choice.seconds:.0f}s): an L2 of 1/(C x rows) = "
            f"{choice.weight_regularization:.3g} on its weights",
            flush=True,
        )
    return choice


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
    """Train the pair (and, as config.train says, the linear baseline beside it), export
    light (serving) and booster, return the eval metrics. `read_splits` gives the
    datasets (rocket_data.read_splits). With validation rows, training checks the light
    net on them as config.train says (keep, early_stop) and the metrics say which step
    was exported and why it stopped; `hyperparameters` (a Tuner's, already in `config`)
    are recorded with them.

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
    fit_args = (splits.train, splits.validation, train_steps, strategy, role)
    joint = linear_training = None
    if config.train.linear_baseline:
        baseline = rocket_config.linear_config(config)
        if reads_no_validation(baseline):
            # Fit as a logistic regression (by default below
            # rocket_config.LOGISTIC_BASELINE_MAX_ROWS train rows), apart: fit_linear_alone.
            model, training = fit_model(config, sizes, *fit_args)
            linear, linear_training = fit_linear_alone(
                baseline, sizes, splits, train_steps, strategy, role
            )
            joint = joined(model, linear, strategy)
        else:  # one pass, each trained as it would be alone
            joint, (training, linear_training) = fit_pair_and_linear(config, sizes, *fit_args)
            model = joint.pair
    else:
        model, training = fit_model(config, sizes, *fit_args)
    evaluation = _evaluate(joint or model, splits.eval)
    metrics = {k: v for k, v in evaluation.items() if not k.startswith(LINEAR_LOGS)}
    metrics["training"] = training
    if config.model.nets == "both":
        training["light_trains_share"] = config.model.light_trains_share
    if hyperparameters:
        training["hyperparameters"] = hyperparameters
    if role.is_chief:
        print(
            f"[Trainer] eval: auc_light={metrics['auc_light']:.4f} "
            f"auc_booster={metrics['auc_booster']:.4f}",
            flush=True,
        )
    blend = None
    if config.train.linear_baseline and config.train.blend_linear_baseline:
        blend = _blend(model, joint.linear, splits, sizes, config, linear_training, role)
        if blend is not None:
            metrics["served"] = blend
    if config.train.linear_baseline:
        metrics["linear_baseline"] = {
            "auc": evaluation[f"{LINEAR_LOGS}auc_light"],
            "exported_step": linear_training["exported_step"],
            "stop_reason": linear_training["stop_reason"],
            "embedding_regularization": joint.linear.rocket.embedding_regularization,
            "weight_regularization": joint.linear.rocket.weight_regularization,
            # Fit as a logistic regression, it trains on the held-out validation rows too.
            "every_train_row": bool(linear_training.get("every_train_row")),
            "fit_by": linear_training.get("fit_by", "the training loop"),
        }
        if "l2_cross_validation" in linear_training:
            metrics["linear_baseline"]["l2_cross_validation"] = linear_training[
                "l2_cross_validation"
            ]
        if role.is_chief:
            weights = joint.linear.rocket.weight_regularization
            penalties = f"embedding_regularization {joint.linear.rocket.embedding_regularization:g}"
            if weights:
                penalties += f", weight_regularization {weights:.3g}"
            if "fit_by" in linear_training:
                rows = f"fit by {linear_training['fit_by']}"
            elif linear_training.get("every_train_row"):
                rows = "every train row and loop"
            else:
                rows = "same rows and loop"
            print(
                f"[Trainer] linear baseline (a logistic regression over the same ids and tag "
                f"tokens, each token once a row; {rows}, {penalties}): eval "
                f"auc={metrics['linear_baseline']['auc']:.4f} against the light net's "
                f"{metrics['auc_light']:.4f}",
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
            model,
            tft_output,
            config,
            metrics,
            train_steps,
            serving_model_dir,
            model_run_dir,
            linear=joint.linear if joint is not None else None,
            light_weight=blend["light_weight"] if blend else None,
        )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if role.multi_worker:
        barrier(strategy)
    return metrics


def _blend(
    pair: rocket_model.RocketLaunchingModel,
    linear: rocket_model.RocketLaunchingModel,
    splits: rocket_data.Splits,
    sizes: dict[str, int],
    config: rocket_config.RocketConfig,
    linear_training: dict,
    role: WorkerRole,
) -> dict | None:
    """The served blend of the light net and the linear baseline (rocket_blend): its
    weight, chosen on the validation rows, and the eval AUC of each net so blended
    (`auc_light`, `auc_booster`); None without validation rows to choose it on."""
    if splits.validation is None:
        if role.is_chief:
            print("[Trainer] served: the light net alone (no validation rows to weigh a "
                  "blend with the linear baseline on)", flush=True)  # fmt: skip
        return None
    chosen = rocket_blend.choose_for(
        pair, linear, splits, sizes, config.train.validation_fraction, linear_training
    )
    served = {**chosen.as_dict(), **rocket_blend.evaluate(pair, linear, chosen.light_weight,
                                                          splits.eval)}  # fmt: skip
    if role.is_chief:
        print(
            f"[Trainer] served: {rocket_blend.describe(chosen.light_weight)}, chosen by "
            f"{rocket_blend.CRITERION} on "
            f"{chosen.validation_rows:,} rows; eval auc={served['auc_light']:.4f}",
            flush=True,
        )
    return served


def _evaluate(model: keras.Model, dataset: tf.data.Dataset) -> dict[str, float]:
    """`model`'s metrics on `dataset`, all finite, or a TrainingError (nothing exported)."""
    evaluation = model.evaluate(dataset, verbose=0, return_dict=True)
    evaluation = {name: float(value) for name, value in evaluation.items()}
    if not all(math.isfinite(v) for v in evaluation.values()):
        raise TrainingError(f"non-finite evaluation metrics {evaluation}; nothing is exported")
    return evaluation


def _seeded_model(
    config: rocket_config.RocketConfig, sizes: dict[str, int], strategy: tf.distribute.Strategy
) -> rocket_model.RocketLaunchingModel:
    """A model built under `strategy` right after seeding: the same initial weights
    whatever was built before it."""
    keras.utils.set_random_seed(config.train.seed)
    with strategy.scope():
        return rocket_model.build_model(config, sizes)


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
    checks, kept weights, early stop when there is validation data); every Tuner trial's
    training, and the Trainer's without a linear baseline. Returns the model and what
    training kept."""
    model = _seeded_model(config, sizes, strategy)
    (training,) = _fit(
        model, [(model, "", prefix, config.train)], train_dataset, validation_dataset,
        train_steps, role,
    )  # fmt: skip
    return model, training


def fit_pair_and_linear(
    config: rocket_config.RocketConfig,
    sizes: dict[str, int],
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset | None,
    train_steps: int,
    strategy: tf.distribute.Strategy,
    role: WorkerRole,
    prefix: str = "[Trainer]",
) -> tuple[PairWithLinear, list[dict]]:
    """The pair and rocket_config.linear_config(config) trained in one pass
    (PairWithLinear), each seeded as if built alone, each with its own validation checks,
    kept weights and early stop: each ends with the weights fit_model would give it on
    the same batches. Training goes on while either still trains (a linear baseline fit
    as a logistic regression trains to the end: linear_config); returns the joint model
    and what training kept of each (the pair's, the linear baseline's)."""
    baseline = rocket_config.linear_config(config)
    pair = _seeded_model(config, sizes, strategy)
    linear = _seeded_model(baseline, sizes, strategy)
    joint = joined(pair, linear, strategy)
    members = [
        (pair, "", prefix, config.train),
        (linear, LINEAR_LOGS, "[Trainer] linear baseline:", baseline.train),
    ]
    trainings = _fit(joint, members, train_dataset, validation_dataset, train_steps, role)
    return joint, trainings


def reads_no_validation(config: rocket_config.RocketConfig) -> bool:
    """Whether training `config` would neither keep a best check nor stop early: its
    validation checks would decide nothing."""
    return config.train.keep == "final" and not config.train.early_stop


def fit_linear_alone(
    baseline: rocket_config.RocketConfig,
    sizes: dict[str, int],
    splits: rocket_data.Splits,
    train_steps: int,
    strategy: tf.distribute.Strategy,
    role: WorkerRole,
    prefix: str = "[Trainer] linear baseline:",
    report: bool = True,
) -> tuple[rocket_model.RocketLaunchingModel, dict]:
    """A linear model (`baseline`, e.g. rocket_config.linear_config of the Trainer's
    config) trained apart from the pair: the Trainer's linear baseline below
    rocket_config.LOGISTIC_BASELINE_MAX_ROWS train rows, and the bench's linear variant.
    Its L2 is cross-validated when baseline.train asks for it (cross_validated_linear_l2);
    the cross-validation's refit on every train row is then the baseline itself
    (RocketLaunchingModel.set_logit_weights; `fit_by`) when it reads no validation rows
    and its features pool by sum. Else, when its validation checks would decide nothing
    (reads_no_validation: fit as a logistic regression) the loop trains it on every
    train row, the hold-out too: on 20,000
    deep_data rows that hold-out left it 0.006 AUC below scikit-learn's logistic
    regression at the same C (0.6257 against 0.6318; on every row 0.6319;
    docs/benchmarks.md, "The linear baseline's L2 chosen by cross-validation"). Returns
    the model and what training kept, with the choice of rows (`every_train_row`) and of
    L2 (`l2_cross_validation`)."""
    choice = cross_validated_linear_l2(baseline, splits, sizes, report and role.is_chief)
    if choice is not None:
        baseline = rocket_config.with_changes(
            baseline, **{"model.weight_regularization": choice.weight_regularization}
        )
    every_row = reads_no_validation(baseline)
    candidate = None
    if every_row and choice is not None:
        candidate = _seeded_model(baseline, sizes, strategy)
    if candidate is not None and candidate.holds_any_linear_function():
        # The cross-validation's own refit on these rows, loaded as it is: the loop's
        # 1,200+ Adam steps to the same optimum fell short of it (AUC 0.8647 against
        # 0.8679 on 10,000 generated rows, 0.5485 against 0.5596 on the real sample).
        linear = candidate
        linear.set_logit_weights(
            rocket_logistic.by_feature(choice.coefficients, sizes), choice.intercept
        )
        training = {"exported_step": 0, "stopped_at_step": 0, "fit_by": SCIKIT_LEARN_FIT,
                    "stop_reason": f"fit by {SCIKIT_LEARN_FIT}, no training loop"}  # fmt: skip
    else:
        train, validation = splits.train, splits.validation
        if every_row:  # train_all is None when nothing is held out: train is every row then
            train = splits.train if splits.train_all is None else splits.train_all
            validation = None
        linear, training = fit_model(
            baseline, sizes, train, validation, train_steps, strategy, role, prefix=prefix
        )
        if every_row:
            training["stop_reason"] = (
                "reached train_steps (every train row, the validation rows too)"
            )
    training["every_train_row"] = every_row
    if choice is not None:
        training["l2_cross_validation"] = choice.as_dict()
    return linear, training


def joined(
    pair: rocket_model.RocketLaunchingModel,
    linear: rocket_model.RocketLaunchingModel,
    strategy: tf.distribute.Strategy,
) -> PairWithLinear:
    """The pair and the linear baseline as one Keras model (PairWithLinear), to train in
    one pass (fit_pair_and_linear) or, trained apart, to evaluate in one pass. Compiled
    with the pair's optimizer because Keras wants one: each member steps its own."""
    with strategy.scope():
        joint = PairWithLinear(pair, linear, name="pair_with_linear")
        joint.compile(optimizer=pair.optimizer)
    return joint


def _fit(
    model: keras.Model,
    members: list[tuple[keras.Model, str, str, rocket_config.TrainConfig]],
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset | None,
    train_steps: int,
    role: WorkerRole,
) -> list[dict]:
    """Fit `model`; with validation data, Keras epochs of one check interval each (the
    first member's) and a BestModelKeeper per member (its model, its logs' prefix, its
    print prefix, its TrainConfig's keep and early stop), the kept weights put back at
    the end. Returns what was kept of each member and why it stopped."""
    train = members[0][3]
    # Each member's optimizer makes its slots before the first step, not inside its trace:
    # TensorFlow traces a tf.function that creates variables a second time, and the train
    # step's trace is the longest part of a training's start (1.5 s of every fit here).
    with model.distribute_strategy.scope():
        for member, *_ in members:
            member.optimizer.build(member.trainable_variables)
    guard = ProgressAndNanGuard(
        train_steps, train.log_every_steps, train.batch_size, role.is_chief, members[0][2]
    )
    if validation_dataset is None:
        model.fit(
            train_dataset, epochs=1, steps_per_epoch=train_steps, verbose=0, callbacks=[guard]
        )
        kept = {"exported_step": train_steps, "stopped_at_step": train_steps,
                "stop_reason": "reached train_steps (no validation data)"}  # fmt: skip
        return [dict(kept) for _ in members]
    every = dataclasses.replace(train, train_steps=train_steps).check_every()
    checks = -(-train_steps // every)
    guard.total_steps = checks * every
    keepers = []
    for member, log_prefix, prefix, own in members:
        own = dataclasses.replace(own, train_steps=train_steps)  # TrainArgs' count wins
        keepers.append(
            BestModelKeeper(
                every,
                own.keep == "best",
                own.early_stop,
                own.patience(),
                role.is_chief,
                prefix,
                net=rocket_model.served_net(member.rocket),
                target=member,
                log_prefix=log_prefix,
            )
        )
    for keeper in keepers:
        keeper.group = keepers
    model.fit(
        train_dataset,
        epochs=checks,
        steps_per_epoch=every,
        validation_data=validation_dataset,
        verbose=0,
        callbacks=[guard, *keepers],
    )
    summaries = []
    for keeper in keepers:
        exported = keeper.restore_best()
        summary = keeper.summary(exported)
        if role.is_chief:
            which = "best validation AUC" if exported == keeper.best_step else "final weights"
            print(
                f"{keeper.prefix} keeping the weights of step {exported} ({which}); "
                f"{summary['stop_reason']}",
                flush=True,
            )
        summaries.append(summary)
    return summaries
