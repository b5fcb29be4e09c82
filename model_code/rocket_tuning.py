"""Hyperparameter search for the pair, for TFX's Tuner component (`rocket_module.tuner_fn`).

The search space is what the training defaults are most sensitive to and what EasyRec
users tune by hand: the learning rate, the embedding tables' L2 regularisation and the
light net's widths (its size is its serving cost). The model stays the configured
Rocket Launching pair; only these three values change.

Every trial trains exactly as the Trainer would (`rocket_training.fit_model`: same
seed, steps, validation checks, kept weights, early stop) and is scored by the light
net's validation AUC of the weights the Trainer would export, on the rows held out of
the train split: the eval split stays the gate's, so tuning cannot flatter the gate.

KerasTuner's `BaseTuner` runs the search: its `Tuner` class expects a Keras 3 model,
while TFT and TFMA 1.16 need the tf_keras one we build, so trials are run here
(`run_trial`) and KerasTuner keeps the oracle, the trial records and the results TFX
writes (`best_hyperparameters`, `tuner_results`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import rocket_config  # TensorFlow-free: the CLI reads this module's names

# The Tuner's custom_config entry with the trial budget (TFX's TuneArgs has no count).
TRIALS_KEY = "tune_trials"
DEFAULT_TRIALS = 6
OBJECTIVE = "val_auc_light"  # the light net's validation AUC, as the Trainer keeps
LEARNING_RATE = "learning_rate"
EMBEDDING_REGULARIZATION = "embedding_regularization"
LIGHT_DNN = "light_dnn"
LEARNING_RATES = (1e-4, 1e-2)  # log-uniform
EMBEDDING_REGULARIZATIONS = (1e-7, 1e-3)  # log-uniform
LIGHT_WIDTHS = ((128, 64), (64, 32), (32,))  # besides the configured one


class TuningError(ValueError):
    """The search cannot run as configured, or hyperparameters do not fit this module."""


def widths_name(units: tuple[int, ...]) -> str:
    return "x".join(str(u) for u in units) or "none"


def _widths(name: str) -> tuple[int, ...]:
    return () if name == "none" else tuple(int(u) for u in name.split("x"))


def light_choices(config: rocket_config.RocketConfig) -> list[str]:
    """The light net's widths to try: the configured ones first."""
    configured = widths_name(config.model.light_dnn.hidden_units)
    return [configured] + [widths_name(w) for w in LIGHT_WIDTHS if widths_name(w) != configured]


def search_space(config: rocket_config.RocketConfig):
    """KerasTuner HyperParameters whose defaults are the config's own values (clamped
    into the ranges), so the first trial is the untuned configuration."""
    import keras_tuner

    def clamp(value: float, bounds: tuple[float, float]) -> float:
        return min(max(value, bounds[0]), bounds[1])

    hp = keras_tuner.HyperParameters()
    hp.Float(
        LEARNING_RATE,
        *LEARNING_RATES,
        sampling="log",
        default=clamp(config.train.learning_rate, LEARNING_RATES),
    )
    hp.Float(
        EMBEDDING_REGULARIZATION,
        *EMBEDDING_REGULARIZATIONS,
        sampling="log",
        default=clamp(config.model.embedding_regularization, EMBEDDING_REGULARIZATIONS),
    )
    choices = light_choices(config)
    hp.Choice(LIGHT_DNN, choices, default=choices[0])
    return hp


def values_of(hyperparameters: dict) -> dict[str, Any]:
    """The chosen values of a KerasTuner HyperParameters config (what TFX's Tuner writes
    and the Trainer receives as fn_args.hyperparameters)."""
    values = hyperparameters.get("values") if isinstance(hyperparameters, dict) else None
    if not isinstance(values, dict):
        raise TuningError(
            f"hyperparameters: expected a KerasTuner HyperParameters config with 'values', "
            f"got {str(hyperparameters)[:200]}"
        )
    return values


def apply(config: rocket_config.RocketConfig, values: dict[str, Any]) -> rocket_config.RocketConfig:
    """The config with the tuned values in place. Unknown names are an error: they come
    from another module's search space and would otherwise be silently ignored."""
    unknown = sorted(set(values) - {LEARNING_RATE, EMBEDDING_REGULARIZATION, LIGHT_DNN})
    if unknown:
        raise TuningError(
            f"hyperparameters {unknown} are not in this module's search space "
            f"({LEARNING_RATE}, {EMBEDDING_REGULARIZATION}, {LIGHT_DNN})"
        )
    changes: dict[str, Any] = {}
    if LEARNING_RATE in values:
        changes["train.learning_rate"] = float(values[LEARNING_RATE])
    if EMBEDDING_REGULARIZATION in values:
        changes["model.embedding_regularization"] = float(values[EMBEDDING_REGULARIZATION])
    if LIGHT_DNN in values:
        try:
            units = _widths(str(values[LIGHT_DNN]))
        except ValueError:
            raise TuningError(
                f"hyperparameter {LIGHT_DNN}={values[LIGHT_DNN]!r}: widths like '64x32'"
            ) from None
        changes["model.light_dnn"] = dataclasses.replace(config.model.light_dnn, hidden_units=units)
    return rocket_config.with_changes(config, **changes)


def describe(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in sorted(values.items())
    )


def exported_auc(training: dict) -> float:
    """The validation AUC of the weights the Trainer would export (the best check's with
    keep "best", the last check's with keep "final")."""
    for step, auc in training.get("validation_checks", []):
        if step == training["exported_step"]:
            return float(auc)
    raise TuningError(f"no validation check at the kept step {training['exported_step']}")


def make_tuner(config: rocket_config.RocketConfig, table_sizes: dict[str, int],
               train_steps: int, max_trials: int, directory: str):  # fmt: skip
    """A KerasTuner random search over `search_space(config)`, the untuned values first."""
    import keras_tuner
    import tensorflow as tf
    import tf_keras as keras
    from keras_tuner.engine import base_tuner

    if config.train.validation_fraction <= 0:
        raise TuningError(
            "tuning scores trials on validation rows held out of the train split: "
            "train_config validation_fraction must be above 0 (and --fixed-steps off)"
        )
    if max_trials < 1:
        raise TuningError(f"{TRIALS_KEY} must be 1 or more, got {max_trials}")

    class DefaultsFirstOracle(keras_tuner.oracles.RandomSearchOracle):
        """Random search whose first trial is the configuration as given, so the tuned
        values are never worse on validation than the untuned ones."""

        given_tried = False

        def populate_space(self, trial_id):
            if not self.given_tried:
                self.given_tried = True
                return {"status": "RUNNING", "values": self.hyperparameters.values}
            return super().populate_space(trial_id)

    class RocketTuner(base_tuner.BaseTuner):
        def run_trial(self, trial, read_splits, **_):
            keras.backend.clear_session()
            # Datasets made afresh for each trial: every trial, and then the Trainer, sees
            # the same batches in the same order (a reused shuffled dataset reshuffles).
            splits = read_splits()
            values = dict(trial.hyperparameters.values)
            prefix = f"[Tuner] trial {len(self.oracle.trials)}/{max_trials}"
            print(f"{prefix}: {describe(values)}", flush=True)
            import rocket_distribution
            import rocket_training

            _, training = rocket_training.fit_model(
                apply(config, values),
                table_sizes,
                splits.train,
                splits.validation,
                train_steps,
                tf.distribute.get_strategy(),
                rocket_distribution.WorkerRole(),
                prefix,
            )
            score = exported_auc(training)
            if not math.isfinite(score):
                raise TuningError(f"{prefix}: validation AUC {score}")
            print(f"{prefix}: score {score:.4f} (validation auc_light, kept weights)", flush=True)
            return {OBJECTIVE: score}

    oracle = DefaultsFirstOracle(
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        max_trials=max_trials,
        hyperparameters=search_space(config),
        tune_new_entries=False,
        allow_new_entries=False,
        seed=config.train.seed,
    )
    return RocketTuner(
        oracle=oracle, directory=directory, project_name="rocket_tuning", overwrite=True
    )


def tuner_fn_result(fn_args, config: rocket_config.RocketConfig):
    """What TFX's Tuner executor runs: the tuner and the datasets it searches with."""
    import rocket_data
    import rocket_distribution
    import rocket_training
    import tensorflow_transform as tft
    from tfx import v1 as tfx

    custom = fn_args.custom_config or {}
    max_trials = int(custom.get(TRIALS_KEY, DEFAULT_TRIALS))
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    config, train_steps = rocket_data.training_plan(fn_args, config)
    tuner = make_tuner(
        config,
        rocket_training.table_sizes(config, tft_output),
        train_steps,
        max_trials,
        fn_args.working_dir,
    )
    print(
        f"[Tuner] {max_trials} trials of at most {train_steps} steps; search space: "
        f"{LEARNING_RATE} {LEARNING_RATES}, {EMBEDDING_REGULARIZATION} "
        f"{EMBEDDING_REGULARIZATIONS} (log-uniform), {LIGHT_DNN} {light_choices(config)}",
        flush=True,
    )
    return tfx.components.TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "read_splits": functools.partial(
                rocket_data.read_splits,
                fn_args,
                tft_output,
                config.train,
                rocket_distribution.WorkerRole(),
            ),
            "verbose": 0,
        },
    )
