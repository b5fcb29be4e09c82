"""Tuning: TFX's own Tuner executor runs rocket_module.tuner_fn on a small Transform output,
and TFX's Trainer executor then trains with the best hyperparameters it wrote."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
import rocket_config
import rocket_data
import rocket_module
import rocket_seed
import rocket_tuning
import tensorflow as tf
from small_transform import CONFIG, write_transformed
from tfx.components.trainer import executor as trainer_executor
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import base_executor
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

TRIALS = 3
STEPS = 24  # a check every 2 steps


def artifact(kind, uri: Path, splits: list[str] | None = None):
    item = kind()
    item.uri = str(uri)
    if splits:
        item.split_names = artifact_utils.encode_split_names(splits)
    return item


def common_properties(config: rocket_config.RocketConfig, **custom) -> dict:
    return {
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=STEPS)),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs()),
        "custom_config": json.dumps({"rocket_config": config.to_json(), **custom}),
    }


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> dict:
    """One search of TRIALS trials with TFX's Tuner executor, then TFX's Trainer with its
    best hyperparameters; every artifact on disk."""
    work = write_transformed(tmp_path_factory.mktemp("tuning"))
    config = rocket_config.with_changes(CONFIG, **{"train.train_steps": STEPS})
    inputs = {
        "examples": [
            artifact(standard_artifacts.Examples, work / "transformed", ["train", "eval"])
        ],
        "transform_graph": [artifact(standard_artifacts.TransformGraph, work / "transform_fn")],
    }
    best = artifact(standard_artifacts.HyperParameters, work / "best_hyperparameters")
    results = artifact(standard_artifacts.TunerResults, work / "tuner_results")
    for folder in (best.uri, results.uri):
        Path(folder).mkdir()
    context = base_executor.BaseExecutor.Context(tmp_dir=str(work / "tmp"), unique_id="1")
    tuner_executor.Executor(context).Do(
        inputs,
        {"best_hyperparameters": [best], "tuner_results": [results]},
        {
            "tuner_fn": "rocket_module.tuner_fn",
            **common_properties(config, **{rocket_tuning.TRIALS_KEY: TRIALS}),
        },
    )
    model = artifact(standard_artifacts.Model, work / "model")
    model_run = artifact(standard_artifacts.ModelRun, work / "model_run")
    trainer_executor.GenericExecutor(context).Do(
        {**inputs, "hyperparameters": [best]},
        {"model": [model], "model_run": [model_run]},
        {"run_fn": "rocket_module.run_fn", **common_properties(config)},
    )
    return {
        "config": config,
        "best": json.loads(Path(best.uri, "best_hyperparameters.txt").read_text()),
        "results": json.loads(Path(results.uri, "tuner_results.json").read_text()),
        "metrics": json.loads((work / "model_run" / "metrics.json").read_text()),
    }


@pytest.mark.slow
def test_the_search_runs_its_trials_and_the_first_is_the_configuration_as_given(tuned):
    results = tuned["results"]
    assert len(results) == TRIALS
    assert all(0.0 <= r["score"] <= 1.0 for r in results)
    space = rocket_tuning.search_space(tuned["config"]).values
    assert space == {
        "learning_rate": tuned["config"].train.learning_rate,
        "embedding_regularization": tuned["config"].model.embedding_regularization,
        "light_dnn": "8",  # CONFIG's light net
    }
    trial_values = [{k: r[k] for k in space} for r in results]
    first = min(results, key=lambda r: int(r["trial_id"]))
    assert {k: first[k] for k in space} == space  # the untuned configuration comes first
    assert len({json.dumps(v, sort_keys=True) for v in trial_values}) == TRIALS
    # The best hyperparameters are those of the best-scoring trial.
    winner = max(results, key=lambda r: r["score"])
    assert tuned["best"]["values"] == {k: winner[k] for k in space}


@pytest.mark.slow
def test_the_trainer_trains_with_the_best_hyperparameters_and_records_them(tuned):
    best = tuned["best"]["values"]
    training = tuned["metrics"]["training"]
    assert training["hyperparameters"] == best
    # The Trainer trains as the winning trial did: same seed, rows and steps, so the same
    # validation AUC at the same kept step.
    winner = max(tuned["results"], key=lambda r: r["score"])
    assert training["best_validation_auc_light"] == pytest.approx(winner["score"], abs=1e-6)


def test_apply_maps_each_hyperparameter_and_refuses_unknown_ones():
    config = rocket_seed.default_config()
    tuned = rocket_tuning.apply(
        config,
        {"learning_rate": 0.003, "embedding_regularization": 1e-5, "light_dnn": "64x32"},
    )
    assert tuned.train.learning_rate == 0.003
    assert tuned.model.embedding_regularization == 1e-5
    light = dataclasses.replace(config.model.light_dnn, hidden_units=(64, 32))
    assert tuned.model.light_dnn == light
    assert tuned.model.booster_dnn == config.model.booster_dnn
    with pytest.raises(rocket_tuning.TuningError, match=r"\['dropout'\] are not in this"):
        rocket_tuning.apply(config, {"dropout": 0.1})
    with pytest.raises(rocket_tuning.TuningError, match="widths like '64x32'"):
        rocket_tuning.apply(config, {"light_dnn": "wide"})
    with pytest.raises(rocket_tuning.TuningError, match="HyperParameters config"):
        rocket_tuning.values_of({"space": []})


def test_tuning_needs_validation_rows(tmp_path):
    config = rocket_config.with_changes(rocket_seed.default_config(), **rocket_config.FIXED_STEPS)
    with pytest.raises(rocket_tuning.TuningError, match="validation_fraction must be above 0"):
        rocket_tuning.make_tuner(config, {}, 10, 2, str(tmp_path))


def test_the_trainer_applies_the_tuned_values_after_the_row_count_plan(tmp_path, capsys):
    """As each trial does (the planned config, then the values): on a small log the
    gradient stays open, as the trials had it (each trial and the Trainer train both
    and keep the better), though the tuned embedding_regularization replaces the
    small-log strength."""
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(tmp_path / "train.gz"), options) as writer:
        for i in range(500):
            writer.write(f"row {i}".encode())
    config = rocket_seed.default_config()  # embedding_regularization, gradient: unset
    values = {"learning_rate": 0.003, "embedding_regularization": 1e-5, "light_dnn": "32"}
    fn_args = argparse.Namespace(
        train_files=[str(tmp_path / "train.gz")], train_steps=5,
        custom_config={"rocket_config": config.to_json()},
        hyperparameters={"values": values},
    )  # fmt: skip
    planned, steps, applied = rocket_module.trainer_plan(fn_args)
    assert steps == 5 and applied == values
    assert planned.model.embedding_regularization == 1e-5  # the tuned value, not 5e-4
    assert planned.train.learning_rate == 0.003
    assert planned.model.light_dnn.hidden_units == (32,)
    trial = rocket_tuning.apply(rocket_data.training_plan(fn_args, config)[0], values)
    assert planned == trial
    assert "hyperparameters from the Tuner" in capsys.readouterr().out
