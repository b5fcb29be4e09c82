"""TFX module_file of the Rocket Launching pipeline: `preprocessing_fn` and `run_fn`.

Hand this file to a stock `tfx.components.Transform` and `tfx.components.Trainer` with
`custom_config={"rocket_config": RocketConfig.to_json()}` (or no custom_config for the
seed's defaults on EasyRec's Taobao columns). TFX packages every .py file of this folder,
which import each other as top-level modules.

The Trainer writes:
- `serving_model_dir` (Format-Serving): the light net only, with the TFT layer;
- `model_run_dir/booster`: the booster, exported the same way, for comparison;
- `model_run_dir/metrics.json`: both nets' AUC and losses on the eval split.

This file holds the two entry points; the work is in its neighbours: rocket_config (the
configuration), rocket_preprocessing, rocket_model (the nets), rocket_optimizers,
rocket_training (datasets, the loop, the in-graph evaluation), rocket_distribution (the
TF_CONFIG cluster: strategy, sharding, barrier) and rocket_export (SavedModels).
"""

from __future__ import annotations

import rocket_config
import tensorflow as tf
import tensorflow_transform as tft
from rocket_distribution import make_strategy, shard_policy, worker_role
from rocket_preprocessing import CONFIG_KEY
from rocket_preprocessing import preprocessing_fn as _preprocessing_fn
from rocket_training import make_dataset, split_rows, train_and_export


def _config_from(custom_config: dict | None) -> rocket_config.RocketConfig:
    if custom_config and CONFIG_KEY in custom_config:
        return rocket_config.RocketConfig.from_json(custom_config[CONFIG_KEY])
    return rocket_config.default_config()


def preprocessing_fn(inputs: dict, custom_config: dict | None = None) -> dict:
    """TFX Transform entry point (see rocket_preprocessing)."""
    config = _config_from(custom_config)
    return _preprocessing_fn(inputs, {CONFIG_KEY: config.to_json()})


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

    def read_once(files):  # eval-sized batches, in file order, one pass
        return make_dataset(
            files,
            fn_args.data_accessor,
            tft_output,
            train.eval_batch_size,
            num_epochs=1,
            shuffle=False,
            auto_shard_policy=eval_sharding,
        )

    validation_dataset = None
    if train.validation_fraction > 0:
        # Held out of the train split by each row's content (rocket_training.row_buckets),
        # so the eval split stays the gate's alone and no validation row is trained on.
        train_dataset = split_rows(
            train_dataset, train.validation_fraction, validation=False
        ).rebatch(train.batch_size, drop_remainder=True)
        validation_dataset = (
            split_rows(read_once(fn_args.train_files), train.validation_fraction, validation=True)
            .rebatch(train.eval_batch_size)
            .cache()  # read once: the later checks reuse it
        )
    eval_dataset = read_once(fn_args.eval_files)
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
        validation_dataset=validation_dataset,
    )
