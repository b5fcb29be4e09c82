"""TFX module_file of the Rocket Launching pipeline: `preprocessing_fn` and `run_fn`.

Hand this file to a stock `tfx.components.Transform` and `tfx.components.Trainer` with
`custom_config={"rocket_config": RocketConfig.to_json()}` (or no custom_config for the
seed's defaults on EasyRec's Taobao columns). TFX packages every .py file of this folder,
which import each other as top-level modules.

The Trainer writes:
- `serving_model_dir` (Format-Serving): the light net only, with the TFT layer;
- `model_run_dir/booster`: the booster, exported the same way, for comparison;
- `model_run_dir/metrics.json`: both nets' AUC and losses on the eval split.
"""

from __future__ import annotations

import json
import math
import os
import time

import rocket_config
import rocket_export
import rocket_model
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

    def __init__(self, total_steps: int, every: int, batch_size: int):
        super().__init__()
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
        if step % self.every == 0 or step == self.total_steps:
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
) -> tf.data.Dataset:
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=LABEL_KEY, num_epochs=num_epochs, shuffle=shuffle
        ),
        tft_output.transformed_metadata.schema,
    )


def train_and_export(
    config: rocket_config.RocketConfig,
    tft_output: tft.TFTransformOutput,
    train_dataset: tf.data.Dataset,
    eval_dataset: tf.data.Dataset,
    train_steps: int,
    serving_model_dir: str,
    model_run_dir: str,
) -> dict:
    """Train the pair, export light (serving) and booster, return the eval metrics."""
    keras.utils.set_random_seed(config.train.seed)
    table_sizes = {f.name: table_size(f, tft_output) for f in config.model_features()}
    print(f"[Trainer] embedding tables: {table_sizes}", flush=True)
    model = rocket_model.build_model(config, table_sizes)
    model.fit(
        train_dataset,
        epochs=1,
        steps_per_epoch=train_steps,
        verbose=0,
        callbacks=[
            ProgressAndNanGuard(train_steps, config.train.log_every_steps, config.train.batch_size)
        ],
    )
    evaluation = model.evaluate(eval_dataset, verbose=0, return_dict=True)
    metrics = {name: float(value) for name, value in evaluation.items()}
    if not all(math.isfinite(v) for v in metrics.values()):
        raise TrainingError(f"non-finite evaluation metrics {metrics}; nothing is exported")
    print(
        f"[Trainer] eval: auc_light={metrics['auc_light']:.4f} "
        f"auc_booster={metrics['auc_booster']:.4f}",
        flush=True,
    )
    label = config.label_field
    rocket_export.export_net(
        model.net_path(rocket_model.LIGHT), tft_output, label, serving_model_dir
    )
    rocket_export.export_net(
        model.net_path(rocket_model.BOOSTER),
        tft_output,
        label,
        os.path.join(model_run_dir, BOOSTER_DIR),
    )
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, METRICS_FILE), "w") as handle:
        handle.write(json.dumps({**metrics, "train_steps": train_steps}, indent=2))
    return metrics


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor)."""
    config = _config_from(fn_args.custom_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    train = config.train
    train_dataset = make_dataset(
        fn_args.train_files,
        fn_args.data_accessor,
        tft_output,
        train.batch_size,
        num_epochs=None,
        shuffle=True,
    )
    eval_dataset = make_dataset(
        fn_args.eval_files,
        fn_args.data_accessor,
        tft_output,
        train.eval_batch_size,
        num_epochs=1,
        shuffle=False,
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
    )
