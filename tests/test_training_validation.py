"""Training that ends at the best model: the validation rows held out of the train split
(the same rows whatever the order or batching, never trained on), the keeper that keeps
the best check's weights and stops early, and the settings that drive them."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math

import numpy as np
import pytest
import rocket_config
import rocket_data
import rocket_model
import rocket_seed
import tensorflow as tf
import tf_keras as keras
from rocket_data import (
    count_rows,
    epoch_check_steps,
    epoch_limited_steps,
    in_memory,
    split_rows,
    step_budget,
    train_steps_of,
    training_plan,
)
from rocket_metrics import auc_standard_error
from rocket_training import NOISY_CHECK_AUC_ERROR, BestModelKeeper, TrainingError

from pipeline.cli.common import load_config

ROWS = 2000
MODEL = rocket_seed.default_config().model


def with_train(train: rocket_config.TrainConfig) -> rocket_config.RocketConfig:
    """The product's default config with this train_config."""
    return dataclasses.replace(rocket_seed.default_config(), train=train)


def batches(batch_size: int, order: np.ndarray) -> tf.data.Dataset:
    """(features, label) batches as TFX's data accessor gives the transformed data: every
    feature a SparseTensor (ids, a tag list of 0 to 3 items, so a batch's padding depends
    on its rows), the label [B]; `row` names each row."""
    rows = np.arange(ROWS)[order]

    def sparse(lists: list[list]) -> tf.SparseTensor:
        return tf.ragged.constant(lists, dtype=tf.int64).to_sparse()

    def make(start: int) -> tuple:
        part = rows[start : start + batch_size]
        features = {
            "row": sparse([[r] for r in part]),
            "user": sparse([[r % 97] for r in part]),
            "tags": sparse([list(range(r % 4)) for r in part]),
        }
        return features, tf.constant(part % 3 == 0, tf.int64)

    parts = [make(start) for start in range(0, ROWS, batch_size)]
    return tf.data.Dataset.from_generator(
        lambda: iter(parts),
        output_signature=(
            {name: tf.SparseTensorSpec([None, None], tf.int64) for name in ("row", "user", "tags")},
            tf.TensorSpec([None], tf.int64),
        ),
    )


def rows_of(dataset: tf.data.Dataset) -> set[int]:
    """The rows a dataset holds; each batch's sparse row ids match its rows, in order."""
    rows: list[int] = []
    for features, label in dataset:
        row = features["row"]
        assert row.indices[:, 0].numpy().tolist() == list(range(int(row.dense_shape[0])))
        assert int(row.dense_shape[0]) == int(tf.shape(label)[0])
        rows += row.values.numpy().tolist()
    assert len(rows) == len(set(rows))
    return set(rows)


def test_validation_rows_are_the_same_whatever_the_order_and_never_trained_on():
    in_order = batches(64, np.arange(ROWS))
    shuffled = batches(100, np.random.default_rng(0).permutation(ROWS))
    validation = rows_of(split_rows(in_order, 0.1, validation=True))
    assert validation == rows_of(split_rows(shuffled, 0.1, validation=True))
    train = rows_of(split_rows(shuffled, 0.1, validation=False))
    assert not validation & train and validation | train == set(range(ROWS))
    assert 0.07 < len(validation) / ROWS < 0.13
    # Rows keep their features through the split, tag lists included; rebatched to a
    # fixed size as the Trainer does.
    fixed = split_rows(shuffled, 0.1, validation=False).rebatch(64, drop_remainder=True)
    for features, label in fixed.take(5):
        assert int(tf.shape(label)[0]) == 64
        tags = tf.sparse.to_dense(features["tags"], default_value=-1).numpy()
        for index, row in enumerate(features["row"].values.numpy()):
            assert row not in validation
            assert int(features["user"].values[index]) == row % 97
            assert int(label[index]) == int(row % 3 == 0)
            assert [t for t in tags[index] if t >= 0] == list(range(row % 4))


def run_checks(keeper: BestModelKeeper, model: keras.Model, aucs: list[float], every: int,
               other: str = "booster"):  # fmt: skip
    """Train-loop events as Keras sends them; before each check the weights are set to
    the check's number, so the kept weights show which check they came from. The
    other net's validation AUC is 0, as the model reports a net it does not have."""
    keeper.set_model(model)
    for check, auc in enumerate(aucs, start=1):
        model.set_weights([np.full(w.shape, check, w.dtype) for w in model.get_weights()])
        for batch in range(every):
            keeper.on_train_batch_end(batch)
        keeper.on_epoch_end(check - 1, {f"val_auc_{keeper.net}": auc, f"val_auc_{other}": 0.0})
        if model.stop_training:
            break


def small_model() -> keras.Model:
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])


def test_keeper_exports_the_best_check_and_stops_after_the_patience():
    model = small_model()
    keeper = BestModelKeeper(every=10, keep_best=True, early_stop=True, patience=30, report=False)
    run_checks(keeper, model, [0.60, 0.70, 0.68, 0.69, 0.65, 0.99], every=10)
    assert model.stop_training and keeper.step == 50  # 30 steps after the best (step 20)
    assert keeper.restore_best() == 20
    assert all(np.all(w == 2) for w in model.get_weights())  # the second check's weights
    summary = keeper.summary(20)
    assert summary["best_validation_step"] == 20 and summary["stopped_at_step"] == 50
    assert summary["best_validation_auc_light"] == pytest.approx(0.70)
    assert "early stop" in summary["stop_reason"]
    assert [step for step, _ in summary["validation_checks"]] == [10, 20, 30, 40, 50]


def test_a_booster_trained_alone_is_kept_by_its_own_validation_auc():
    """The served net decides: a booster alone (a bench baseline) has no light net, whose
    AUC the model reports as 0; monitoring that kept the first check and stopped."""
    assert rocket_model.served_net(dataclasses.replace(MODEL, nets="booster")) == "booster"
    assert rocket_model.served_net(MODEL) == rocket_model.served_net(
        dataclasses.replace(MODEL, nets="light")
    ) == "light"  # fmt: skip
    model = small_model()
    keeper = BestModelKeeper(every=10, keep_best=True, early_stop=True, patience=20,
                             report=False, net="booster")  # fmt: skip
    run_checks(keeper, model, [0.60, 0.70, 0.75, 0.74], every=10, other="light")
    assert keeper.restore_best() == 30 and not model.stop_training
    assert keeper.summary(30)["best_validation_auc_booster"] == pytest.approx(0.75)


def test_keep_final_exports_the_last_weights_and_no_early_stop_runs_every_check():
    model = small_model()
    keeper = BestModelKeeper(every=5, keep_best=False, early_stop=False, patience=5, report=False)
    run_checks(keeper, model, [0.7, 0.6, 0.5], every=5)
    assert not model.stop_training and keeper.restore_best() == 15
    assert all(np.all(w == 3) for w in model.get_weights())
    assert keeper.summary(15)["stop_reason"] == "reached train_steps"


def test_the_first_check_says_how_many_clicks_it_scored_and_warns_when_too_few(capsys):
    """The keeper reads the validation rows' clicks from the served net's AUC metric (as
    the model's test step left it) and gives a check's standard error (Hanley-McNeil);
    with ~40 clicks (the real sample's hold-out) it warns that the kept step follows
    noise, with thousands it does not."""
    assert auc_standard_error(0.5, 1, 1) == pytest.approx(0.5)
    assert auc_standard_error(0.75, 40, 760) > NOISY_CHECK_AUC_ERROR > auc_standard_error(
        0.75, 2000, 38000
    )  # fmt: skip
    assert math.isnan(auc_standard_error(0.7, 0, 100))
    rng = np.random.default_rng(0)
    for clicks, rows, warned in ((40, 800, True), (2000, 40000, False)):
        model = small_model()
        model.auc_light = keras.metrics.AUC(num_thresholds=1000, name="auc_light")
        labels = np.zeros(rows)
        labels[:clicks] = 1
        model.auc_light.update_state(labels, rng.uniform(size=rows))
        keeper = BestModelKeeper(every=5, keep_best=True, early_stop=True, patience=10)
        run_checks(keeper, model, [0.75, 0.76], every=5)
        error = auc_standard_error(0.75, clicks, rows - clicks)
        assert keeper.summary(10)["validation"] == {
            "rows": rows, "clicks": clicks, "check_auc_standard_error": round(error, 4)
        }  # fmt: skip
        out = capsys.readouterr().out
        assert f"validation hold-out: {rows:,} rows, {clicks:,} clicks" in out
        assert out.count("validation hold-out:") == 1  # said at the first check only
        assert ("WARNING" in out and "too few clicks to pick a step" in out) == warned
    # A model without the metric (a stand-in): nothing to say, nothing recorded.
    keeper = BestModelKeeper(every=5, keep_best=True, early_stop=True, patience=10)
    run_checks(keeper, small_model(), [0.7], every=5)
    assert "validation" not in keeper.summary(5) and "hold-out" not in capsys.readouterr().out


def test_a_hold_out_without_a_click_trains_the_whole_budget_and_says_so(capsys):
    """A small log's hold-out can hold no click (a 400-row run: 42 rows, 0 clicks): every
    check reads AUC 0, and keeping the best of them had kept step 1 and stopped there.
    With no AUC to pick a step by, training runs its budget and keeps the last weights."""
    model = small_model()
    model.auc_light = keras.metrics.AUC(num_thresholds=1000, name="auc_light")
    model.auc_light.update_state(np.zeros(42), np.random.default_rng(0).uniform(size=42))
    keeper = BestModelKeeper(every=1, keep_best=True, early_stop=True, patience=3)
    run_checks(keeper, model, [0.0] * 6, every=1)
    assert not model.stop_training and keeper.restore_best() == 6
    assert all(np.all(w == 6) for w in model.get_weights())
    assert keeper.summary(6)["validation"] == {
        "rows": 42, "clicks": 0, "check_auc_standard_error": None
    }  # fmt: skip
    out = capsys.readouterr().out
    assert "WARNING: [Trainer] the validation hold-out (42 rows) holds no click" in out
    assert "runs its whole budget and keeps the last step's weights" in out


def test_a_failed_validation_check_stops_training_with_a_clear_error():
    keeper = BestModelKeeper(every=5, keep_best=True, early_stop=True, patience=5, report=False)
    keeper.set_model(small_model())
    with pytest.raises(TrainingError, match="validation check at step 0 gave nan: no validation"):
        keeper.on_epoch_end(0, {"val_auc_light": float("nan")})


def test_check_interval_and_patience_defaults_and_invalid_settings():
    assert rocket_config.TrainConfig().train_steps == 0  # chosen from the row count
    train = rocket_config.TrainConfig(train_steps=1200)
    assert (train.check_every(), train.patience()) == (100, 300)  # 1200 steps: 12 checks
    # Checks every half epoch of few rows: three checks, but never under a quarter of the
    # steps (a linear model's Adam steps move its weights slowly).
    assert rocket_config.TrainConfig(train_steps=1200, eval_every_steps=8).patience() == 300
    assert rocket_config.TrainConfig(train_steps=1200, eval_every_steps=150).patience() == 450
    steps = rocket_config.TrainConfig(train_steps=1201, eval_every_steps=0, max_check_steps=500)
    assert (steps.check_every(), steps.patience()) == (101, 500)
    base = rocket_seed.default_config()
    for changes, message in (
        ({"train.validation_fraction": 0.0}, "need validation data"),
        ({"train.keep": "latest"}, "keep must be one of"),
        ({"train.validation_fraction": 0.7}, r"validation_fraction must be in \[0, 0.5\]"),
    ):
        with pytest.raises(ValueError, match=message):
            rocket_config.with_changes(base, **changes)
    final = rocket_config.with_changes(
        base, **{"train.validation_fraction": 0.0, "train.keep": "final", "train.early_stop": False}
    )
    assert final.train.validation_fraction == 0


def test_fixed_steps_turns_validation_and_early_stopping_off():
    args = argparse.Namespace(config=None, train_steps=1200, batch_size=None, fixed_steps=True)
    train = load_config(args).train
    assert (train.train_steps, train.validation_fraction, train.keep, train.early_stop) == (
        1200, 0.0, "final", False,
    )  # fmt: skip
    args.fixed_steps = False
    assert load_config(args).train.keep == "best"


def test_num_epochs_caps_the_steps_by_the_rows_training_sees(tmp_path, capsys):
    """EasyRec's data_config num_epochs: passes over the train split's rows less the
    validation hold-out, counted in ExampleGen's gzipped TFRecords; train_steps (or
    TrainArgs' num_steps) still caps."""
    for shard, rows in (("a", 700), ("b", 300)):
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(tmp_path / f"data_{shard}.gz"), options) as writer:
            for i in range(rows):
                writer.write(f"row {i}".encode())
    files = [str(tmp_path / "data_*.gz")]
    assert count_rows(files) == 1000
    train = rocket_config.TrainConfig(batch_size=64, num_epochs=2, validation_fraction=0.1)
    assert epoch_limited_steps(train, 1000, 1200) == 29  # ceil(2 * 900 / 64)
    assert epoch_limited_steps(train, 1000, 20) == 20
    assert epoch_limited_steps(dataclasses.replace(train, num_epochs=0), 1000, 1200) == 1200
    fn_args = argparse.Namespace(train_files=files, train_steps=500)
    assert train_steps_of(fn_args, with_train(train)) == 29
    assert "num_epochs 2 over 1,000 train rows" in capsys.readouterr().out
    fn_args.train_steps = 0  # no TrainArgs count: the config's train_steps
    assert train_steps_of(fn_args, with_train(dataclasses.replace(train, train_steps=10))) == 10
    with pytest.raises(ValueError, match="num_epochs 0 or more"):
        rocket_config.with_changes(rocket_seed.default_config(), **{"train.num_epochs": -1})


def test_default_checks_come_every_half_epoch_of_the_counted_rows(tmp_path, capsys):
    """Without eval_every_steps the Trainer counts the train split and checks every half
    epoch of the rows it trains on (when that is shorter than a twelfth of the steps):
    the default run's nets peak within two epochs, which 100-step checks stepped over."""
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(tmp_path / "train.gz"), options) as writer:
        for i in range(4000):
            writer.write(f"row {i}".encode())
    fn_args = argparse.Namespace(train_files=[str(tmp_path / "*.gz")], train_steps=0)
    train = rocket_config.TrainConfig(batch_size=64)  # 3,600 rows trained on: 57 steps
    assert epoch_check_steps(train, 4000, 1200) == 29  # ceil(57 / 2) < 1200 / 12
    assert epoch_check_steps(train, 400_000, 1200) == 100  # a twelfth of the steps
    planned, steps = training_plan(fn_args, with_train(train))  # no step count: 1,200 at least
    planned = planned.train
    assert (steps, planned.train_steps, planned.eval_every_steps) == (1200, 1200, 29)
    assert planned.check_every() == 29
    out = capsys.readouterr().out
    assert "1200 steps (chosen from the rows: 8 epochs of 57 steps, at least 1200)" in out
    assert "a validation check every 29 steps" in out
    # More rows, more steps: eight passes over the rows training sees (360,000 / 64).
    assert step_budget(train, 400_000, 0) == 8 * 5625
    assert step_budget(train, 400_000, 300) == 300  # a step count wins
    fixed = dataclasses.replace(train, eval_every_steps=7)  # the config's interval wins
    assert training_plan(fn_args, with_train(fixed))[0].train.eval_every_steps == 7
    # No validation rows, a step count and embedding_regularization set: nothing to choose
    # from the rows, so they are not counted.
    none = dataclasses.replace(train, validation_fraction=0.0, keep="final", early_stop=False)
    fn_args.train_files = [str(tmp_path / "missing-*.gz")]
    fn_args.train_steps = 300
    config = rocket_config.with_changes(
        with_train(none), **{"model.embedding_regularization": 5e-6}
    )
    planned, steps = training_plan(fn_args, config)
    assert (planned.train, steps) == (dataclasses.replace(none, train_steps=300), 300)
    assert planned.model == config.model


def write_rows(path, rows: int) -> None:
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for i in range(rows):
            writer.write(f"row {i}".encode())


def test_the_embedding_regularization_follows_the_train_rows(tmp_path, capsys):
    """Left unset, embedding_regularization is SMALL_LOG_EMBEDDING_REGULARIZATION on fewer
    than SMALL_LOG_MAX_ROWS train rows and DEFAULT_EMBEDDING_REGULARIZATION from there on.
    Below LOGISTIC_BASELINE_MAX_ROWS the linear baseline is regularised as a logistic
    regression (an L2 on its weights, to be chosen by cross-validation, no pooled
    penalty, fit to the end of the step budget); from there on as the nets, stopped
    early. The Trainer says which. A value the config sets is kept; the linear baseline's
    own value, when set, is used for it alone."""
    limit = rocket_config.SMALL_LOG_MAX_ROWS
    logistic_limit = rocket_config.LOGISTIC_BASELINE_MAX_ROWS
    counts = {"few": limit - 1, "many": limit, "most": logistic_limit}
    for name, rows in counts.items():
        write_rows(tmp_path / f"{name}.gz", rows)
    fixed = dataclasses.replace(rocket_config.TrainConfig(), train_steps=5, eval_every_steps=5)
    config = with_train(fixed)
    small = rocket_config.SMALL_LOG_EMBEDDING_REGULARIZATION
    default = rocket_config.DEFAULT_EMBEDDING_REGULARIZATION
    assert small > default and config.train.linear_embedding_regularization is None
    with pytest.raises(ValueError, match="embedding_regularization is unset"):
        rocket_model.build_model(config, {f.name: 10 for f in config.model_features()})
    for name, chosen in (("few", small), ("many", default), ("most", default)):
        rows = counts[name]
        fn_args = argparse.Namespace(train_files=[str(tmp_path / f"{name}.gz")], train_steps=0)
        planned, _ = training_plan(fn_args, config)
        assert planned.model.embedding_regularization == chosen
        linear = rocket_config.linear_config(planned)
        assert linear.model.light_dnn.hidden_units == () and linear.model.share_dnn is None
        out = capsys.readouterr().out
        assert f"{rows:,} train rows" in out and f"embedding_regularization {chosen:g}" in out
        if rows < logistic_limit:
            assert linear.model.embedding_regularization == 0.0
            l2 = rocket_config.SMALL_LOG_LINEAR_L2
            # SMALL_LOG_LINEAR_L2/rows until the Trainer has cross-validated it.
            assert linear.model.weight_regularization == pytest.approx(l2 / rows)
            assert linear.train.linear_l2_by_cross_validation
            # Fit as a logistic regression: to the end of the budget, its final weights.
            assert (linear.train.early_stop, linear.train.keep) == (False, "final")
            assert "a logistic regression, the L2 on its weights chosen by cross-valid" in out
            assert "the nets and the linear baseline" not in out
        else:
            assert linear.model.embedding_regularization == chosen
            assert linear.model.weight_regularization == 0.0
            assert not linear.train.linear_l2_by_cross_validation
            assert (linear.train.early_stop, linear.train.keep) == (True, "best")
            assert "the nets and the linear baseline" in out
        set_by_user = rocket_config.with_changes(
            config, **{"train.linear_weight_regularization": 1e-3}
        )
        linear = rocket_config.linear_config(training_plan(fn_args, set_by_user)[0])
        assert linear.model.weight_regularization == 1e-3
        assert not linear.train.linear_l2_by_cross_validation
        assert linear.model.embedding_regularization == chosen
        capsys.readouterr()
        set_by_user = rocket_config.with_changes(config, **{"model.embedding_regularization": 0.0})
        assert training_plan(fn_args, set_by_user)[0].model.embedding_regularization == 0.0
        assert "embedding_regularization" not in capsys.readouterr().out
        own = rocket_config.with_changes(config, **{"train.linear_embedding_regularization": 0.0})
        planned = training_plan(fn_args, own)[0]
        assert planned.model.embedding_regularization == chosen
        assert rocket_config.linear_config(planned).model.embedding_regularization == 0.0
        out = capsys.readouterr().out
        assert f"embedding_regularization {chosen:g}" in out and "linear baseline" not in out
    for name in ("linear_embedding_regularization", "linear_weight_regularization"):
        with pytest.raises(ValueError, match=f"{name} must be 0 or more"):
            rocket_config.with_changes(config, **{f"train.{name}": -1.0})
    with pytest.raises(ValueError, match="weight_regularization must be 0 or more"):
        rocket_config.with_changes(config, **{"model.weight_regularization": -1.0})
    with pytest.raises(ValueError, match="weight_regularization is for a linear model only"):
        rocket_config.with_changes(config, **{"model.weight_regularization": 1e-3})
    with pytest.raises(ValueError, match="embedding_regularization must be 0 or more"):
        rocket_config.with_changes(config, **{"model.embedding_regularization": -1.0})


def test_validation_rows_served_from_memory_keep_their_batches_and_order():
    """in_memory: the same batches in the same order (sparse features included), from
    tensors held in memory; an empty dataset stays as it is."""

    def batch(i):
        return {"ids": tf.sparse.from_dense(tf.fill([2, 3], i))}, tf.fill([2], i)

    dataset = tf.data.Dataset.range(11).map(batch).unbatch().batch(3)  # 8 batches, last 1 row
    served = in_memory(dataset)
    for (features, label), (want_features, want_label) in zip(served, dataset, strict=True):
        assert label.numpy().tolist() == want_label.numpy().tolist()
        assert tf.sparse.to_dense(features["ids"]).numpy().tolist() == (
            tf.sparse.to_dense(want_features["ids"]).numpy().tolist()
        )
    empty = dataset.take(0)
    assert in_memory(empty) is empty


def test_a_sparse_features_row_strings_are_its_ragged_rows_joined():
    """rocket_data._row_strings joins a SparseTensor's rows with one segment join; the
    validation buckets (which rows are held out) are what joining the rows of
    RaggedTensor.from_sparse gave, for strings, integers, empty and trailing empty rows."""
    rng = np.random.default_rng(5)
    for dtype in (tf.string, tf.int64):
        lengths = rng.integers(0, 4, 50)
        lengths[-3:] = 0  # empty rows at the end: the dense shape, not the ids, counts them
        values = rng.integers(0, 1000, lengths.sum())
        values = tf.constant(values.astype(str) if dtype == tf.string else values, dtype)
        sparse = tf.RaggedTensor.from_row_lengths(values, lengths).to_sparse()
        ragged = tf.RaggedTensor.from_sparse(sparse)
        if dtype != tf.string:
            ragged = tf.ragged.map_flat_values(tf.strings.as_string, ragged)
        expected = tf.strings.reduce_join(ragged, axis=1, separator=",").numpy().tolist()
        got = rocket_data._row_strings(sparse, tf.constant(50)).numpy().tolist()
        assert got == expected and got[-1] == b""


def noise_id_batches(clicks_every: int | None = None) -> tf.data.Dataset:
    """3,000 rows of (features, label) batches: an id `a` with a planted effect and an id
    `n` of 1,000 values that carries none (each seen ~3 times)."""
    rng = np.random.default_rng(0)
    n = 3000
    a, noise = rng.integers(0, 5, n), rng.integers(0, 1000, n)
    labels = (rng.random(n) < np.where(a < 2, 0.5, 0.2)).astype(np.int64)
    if clicks_every is not None:  # almost no clicks
        labels = (np.arange(n) % clicks_every == 0).astype(np.int64)

    def ids(values):
        return tf.RaggedTensor.from_row_lengths(
            tf.constant(values, tf.int64), [1] * len(values)
        ).to_sparse()

    return tf.data.Dataset.from_tensor_slices(
        ({"a_ids": ids(a), "n_ids": ids(noise)}, labels)
    ).batch(512)  # fmt: skip


def test_the_linear_baseline_l2_is_chosen_by_cross_validation_on_small_logs(capsys):
    """With linear_l2_by_cross_validation (the small-log default) the Trainer's L2 for the
    linear baseline is 1/(C x rows), C chosen by scikit-learn's LogisticRegressionCV on the
    rows it trains on; noise ids need a C below scikit-learn's default of 1."""
    import rocket_logistic
    from rocket_training import cross_validated_linear_l2

    sizes = {"a": 5, "n": 1000}
    config = rocket_config.with_changes(  # as the row-count choice leaves it
        rocket_seed.default_config(),
        **{"train.linear_l2_by_cross_validation": True, "train.linear_weight_regularization": 1e-3},
    )
    splits = rocket_data.Splits(None, None, None, train_once=noise_id_batches)
    choice = cross_validated_linear_l2(config, splits, sizes)
    assert choice.c in rocket_logistic.CS and choice.c < 1.0
    assert (choice.rows, choice.weight_regularization) == (3000, 1 / (choice.c * 3000))
    assert f"linear baseline: C={choice.c:.3g} chosen by 5-fold cross-validation" in (
        capsys.readouterr().out
    )
    # Off (a config that sets linear_weight_regularization): nothing is fitted.
    off = rocket_config.with_changes(config, **{"train.linear_l2_by_cross_validation": False})
    assert cross_validated_linear_l2(off, splits, sizes) is None
    # Too few clicks for 5 folds: the row-count L2 stays, and the console says why.
    few_clicks = functools.partial(noise_id_batches, clicks_every=1000)
    few = rocket_data.Splits(None, None, None, train_once=few_clicks)
    assert cross_validated_linear_l2(config, few, sizes) is None
    out = capsys.readouterr().out
    assert "3 clicks: too few of each class for 5-fold cross-validation" in out
    assert "its L2 stays 0.001" in out


def test_the_cross_validated_c_does_not_depend_on_the_order_rows_are_read_in():
    """Beam writes the transformed rows in another order on each run; the folds of
    LogisticRegressionCV are consecutive rows, so the rows are put in content order."""
    import rocket_logistic

    sizes = {"a": 5, "n": 1000}
    x, y = rocket_logistic.one_hot_rows(noise_id_batches(), sizes)
    shuffled = np.random.default_rng(1).permutation(len(y))
    first = rocket_logistic.cross_validated(x, y)
    again = rocket_logistic.cross_validated(x[shuffled], y[shuffled])
    assert first.C_[0] == again.C_[0]
    np.testing.assert_allclose(first.coef_, again.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(first.scores_[1], again.scores_[1])
