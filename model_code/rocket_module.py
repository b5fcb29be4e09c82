"""TFX module_file of the Rocket Launching pipeline: `preprocessing_fn`, `run_fn` and
`tuner_fn`.

Hand this file to a stock `tfx.components.Transform`, `tfx.components.Trainer` (and
optionally `tfx.components.Tuner`, whose best hyperparameters the Trainer then uses) with
`custom_config={"rocket_config": RocketConfig.to_json()}` (or no custom_config for the
seed's defaults on EasyRec's Taobao columns). TFX packages every .py file of this folder,
which import each other as top-level modules.

The Trainer writes:
- `serving_model_dir` (Format-Serving): the light net only, with the TFT layer;
- `model_run_dir/booster`: the booster, exported the same way, for comparison;
- `model_run_dir/metrics.json`: both nets' AUC and losses on the eval split, what training
  kept, and the linear baseline's AUC.

This file holds the three entry points; the work is in its neighbours: rocket_config (the
configuration) and rocket_seed (the seed's), rocket_preprocessing, rocket_model (the
nets), rocket_optimizers, rocket_data (datasets, validation rows, step budget),
rocket_training (the loop, the checks, the linear baseline, the in-graph evaluation),
rocket_logistic (the small-log linear baseline's L2, chosen by cross-validation),
rocket_memory, rocket_tuning (the search), rocket_distribution (the TF_CONFIG cluster:
strategy, sharding, barrier) and rocket_export (SavedModels).
"""

from __future__ import annotations

import functools

import rocket_config
import rocket_seed
import rocket_tuning
import tensorflow_transform as tft
from rocket_data import read_splits, training_plan
from rocket_distribution import make_strategy, worker_role
from rocket_preprocessing import CONFIG_KEY
from rocket_preprocessing import preprocessing_fn as _preprocessing_fn
from rocket_training import train_and_export


def _config_from(custom_config: dict | None) -> rocket_config.RocketConfig:
    if custom_config and CONFIG_KEY in custom_config:
        return rocket_config.RocketConfig.from_json(custom_config[CONFIG_KEY])
    return rocket_seed.default_config()


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """TFX Transform entry point (see rocket_preprocessing)."""
    config = _config_from(custom_config)
    return _preprocessing_fn(inputs, {CONFIG_KEY: config.to_json()})


def trainer_plan(
    fn_args, report: bool = True
) -> tuple[rocket_config.RocketConfig, int, dict | None]:
    """The Trainer's config, step budget and the Tuner's values (None without a Tuner).
    The values are applied after the row-count plan (training_plan), as each Tuner trial
    applies them (rocket_tuning.tuner_fn_result): what the rows decided, such as the
    gradient on small logs, stays as the trials had it; the tuned values replace what the
    plan chose for them."""
    config, train_steps = training_plan(fn_args, _config_from(fn_args.custom_config), report)
    values = None
    if fn_args.hyperparameters:
        values = rocket_tuning.values_of(fn_args.hyperparameters)
        config = rocket_tuning.apply(config, values)
        if report:
            print(f"[Trainer] hyperparameters from the Tuner: {rocket_tuning.describe(values)}")
    return config, train_steps, values


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor), on one machine or on every worker of a
    TF_CONFIG cluster. With a Tuner upstream, its best hyperparameters change the config."""
    role = worker_role()
    strategy = make_strategy(role)  # first: multi-worker collectives are set up here
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    config, train_steps, values = trainer_plan(fn_args, role.is_chief)
    train_and_export(
        config,
        tft_output,
        functools.partial(read_splits, fn_args, tft_output, config.train, role),
        train_steps,
        fn_args.serving_model_dir,
        fn_args.model_run_dir,
        strategy=strategy,
        role=role,
        hyperparameters=values,
    )


def tuner_fn(fn_args):
    """TFX Tuner entry point: a KerasTuner search over learning rate, embedding
    regularisation and light-net widths (rocket_tuning), each trial trained as the
    Trainer trains and scored on the same validation rows."""
    config = _config_from(fn_args.custom_config)
    return rocket_tuning.tuner_fn_result(fn_args, config)
