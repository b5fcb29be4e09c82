"""EasyRec's optimizers: LazyAdam touches only the rows a batch uses; the others are
tf_keras's with EasyRec's parameters; the model's table gradients stay sparse."""

import numpy as np
import pytest
import rocket_config
import rocket_optimizers
import rocket_seed
import tensorflow as tf
import tf_keras as keras
from test_model import batch, build, small_config

ROWS, DIM = 50, 3


def train_config(**changes) -> rocket_config.TrainConfig:
    return rocket_config.with_changes(
        rocket_seed.default_config(), **{f"train.{k}": v for k, v in changes.items()}
    ).train


def sparse_steps(optimizer, table, dense, batches):
    """Steps whose table gradient is an IndexedSlices of `rows` (duplicates included)."""
    for rows in batches:
        indices = tf.constant(rows, tf.int64)
        with tf.GradientTape() as tape:
            pooled = tf.gather(table, indices)  # an IndexedSlices gradient, as sum_pool's
            loss = tf.reduce_sum(tf.sin(pooled) * tf.range(1.0, DIM + 1.0)) + tf.reduce_sum(
                dense * dense
            )
        grads = tape.gradient(loss, [table, dense])
        assert isinstance(grads[0], tf.IndexedSlices)
        optimizer.apply_gradients(zip(grads, [table, dense]))


def start():
    rng = np.random.default_rng(0)
    return rng.normal(size=(ROWS, DIM)).astype("float32"), rng.normal(size=(4,)).astype("float32")


def test_a_lazy_step_changes_exactly_the_rows_used_and_their_slots():
    table0, dense0 = start()
    table, dense = tf.Variable(table0), tf.Variable(dense0)
    optimizer = rocket_optimizers.LazyAdam(learning_rate=0.1)
    sparse_steps(optimizer, table, dense, [[3, 7, 7], [7, 11]])
    changed = np.flatnonzero(np.any(table.numpy() != table0, axis=1))
    assert changed.tolist() == [3, 7, 11]
    m_table, v_table = optimizer._momentums[0].numpy(), optimizer._velocities[0].numpy()
    assert np.flatnonzero(np.any(m_table != 0, axis=1)).tolist() == [3, 7, 11]
    assert np.flatnonzero(np.any(v_table != 0, axis=1)).tolist() == [3, 7, 11]
    # The row used twice in a batch got the sum of its two gradients, like a dense step.
    reference = tf.Variable(table0)
    adam = keras.optimizers.Adam(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(tf.gather(reference, [3, 7, 7])) * tf.range(1.0, DIM + 1.0))
    adam.apply_gradients([(tf.convert_to_tensor(tape.gradient(loss, reference)), reference)])
    first = tf.Variable(table0)
    lazy = rocket_optimizers.LazyAdam(learning_rate=0.1)
    sparse_steps(lazy, first, tf.Variable(dense0), [[3, 7, 7]])
    np.testing.assert_allclose(first.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)


def test_lazy_adam_is_adam_when_every_row_is_in_every_batch_and_on_dense_weights():
    table0, dense0 = start()
    every_row = [list(range(ROWS)) + [5]] * 4
    results = []
    for cls in (rocket_optimizers.LazyAdam, keras.optimizers.Adam):
        table, dense = tf.Variable(table0), tf.Variable(dense0)
        sparse_steps(cls(learning_rate=0.05, beta_1=0.8, beta_2=0.99), table, dense, every_row)
        results.append((table.numpy(), dense.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(results[0][1], results[1][1])  # the same code path


def test_adam_moves_rows_a_batch_does_not_use_and_lazy_adam_does_not():
    table0, dense0 = start()
    moved = {}
    for cls in (rocket_optimizers.LazyAdam, keras.optimizers.Adam):
        table = tf.Variable(table0)
        sparse_steps(cls(learning_rate=0.1), table, tf.Variable(dense0), [[1, 2], [2, 3]])
        moved[cls] = np.any(table.numpy() != table0, axis=1)
    assert moved[rocket_optimizers.LazyAdam].tolist() == [i in (1, 2, 3) for i in range(ROWS)]
    assert moved[keras.optimizers.Adam][1]  # row 1, unused by the second batch, moved on
    assert not moved[keras.optimizers.Adam][4:].any()  # never-used rows: m = 0, no step


@pytest.mark.parametrize(
    ("kind", "cls", "expected"),
    [
        ("adam", keras.optimizers.Adam, {"beta_1": 0.8, "beta_2": 0.99}),
        ("lazy_adam", rocket_optimizers.LazyAdam, {"beta_1": 0.8, "beta_2": 0.99}),
        ("adagrad", keras.optimizers.Adagrad, {"initial_accumulator_value": 0.2}),
        ("momentum", keras.optimizers.SGD, {"momentum": 0.5}),
        ("rms_prop", keras.optimizers.RMSprop, {"rho": 0.95, "momentum": 0.5, "epsilon": 1.0}),
        (
            "ftrl",
            keras.optimizers.Ftrl,
            {
                "learning_rate_power": -0.6,
                "initial_accumulator_value": 0.2,
                "l1_regularization_strength": 0.01,
                "l2_regularization_strength": 0.02,
                "l2_shrinkage_regularization_strength": 0.03,
            },
        ),
    ],
)
def test_each_easyrec_optimizer_is_the_tf_keras_one_with_its_parameters(kind, cls, expected):
    train = train_config(
        optimizer=kind,
        beta1=0.8,
        beta2=0.99,
        initial_accumulator_value=0.2,
        momentum=0.5,
        rms_decay=0.95,
        learning_rate_power=-0.6,
        l1_reg=0.01,
        l2_reg=0.02,
        l2_shrinkage_reg=0.03,
    )
    optimizer = rocket_optimizers.make_optimizer(train)
    assert type(optimizer) is cls
    config = optimizer.get_config()
    for name, value in expected.items():
        assert config[name] == pytest.approx(value), name
    assert isinstance(optimizer._learning_rate, rocket_optimizers.DecayWithFloor)
    assert float(optimizer.learning_rate) == pytest.approx(train.learning_rate)  # at step 0


def test_an_unknown_optimizer_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="optimizer 'sgd' is not one of"):
        train_config(optimizer="sgd")


def test_the_models_table_gradients_are_sparse_with_embedding_regularization():
    """EasyRec regularizes the batch's pooled embeddings, not whole tables: the gradient
    of every loss term stays an IndexedSlices of the rows the batch uses."""
    config = small_config(**{"model.embedding_regularization": 0.5})
    model = build(config)
    features, label = batch(config, size=64)
    with tf.GradientTape() as tape:
        outputs = model(features, training=True)
        losses = model.rocket_losses(outputs, label)
    pooled = model.embeddings(features)
    assert float(outputs["embedding_regularization"]) == pytest.approx(
        0.25 * float(tf.reduce_sum(tf.square(pooled))), rel=1e-5
    )
    assert float(losses["regularization_loss"]) >= float(outputs["embedding_regularization"])
    tables = list(model.embeddings.tables.values())
    for table, gradient in zip(tables, tape.gradient(losses["total_loss"], tables)):
        assert isinstance(gradient, tf.IndexedSlices), table.name


def test_a_model_trains_with_lazy_adam_and_leaves_unused_rows_alone():
    config = small_config(**{"train.optimizer": "lazy_adam", "train.learning_rate": 0.01})
    model = build(config)
    assert isinstance(model.optimizer, rocket_optimizers.LazyAdam)
    features, label = batch(config, size=256)
    table = model.embeddings.tables["user_id"]
    model(features)  # built
    used = np.unique(features["user_id_ids"].values.numpy())
    before = table.numpy()
    for _ in range(5):
        model.train_step((features, label))
    changed = np.flatnonzero(np.any(table.numpy() != before, axis=1))
    assert changed.tolist() == used.tolist()


@pytest.mark.parametrize(
    "changes",
    [{"optimizer": name} for name in rocket_config.OPTIMIZERS]
    + [{"optimizer": "momentum", "momentum": 0.0}, {"optimizer": "rms_prop", "momentum": 0.0}],
)
def test_the_memory_estimate_counts_the_slots_the_optimizer_really_builds(changes):
    """rocket_optimizers.slots (the Trainer's memory estimate) against the slot variables
    tf_keras creates for a table."""
    optimizer = rocket_optimizers.make_optimizer(train_config(**changes))
    table = tf.Variable(tf.zeros((ROWS, DIM)))
    optimizer.build([table])
    built = [v for v in optimizer.variables if tuple(v.shape) == (ROWS, DIM)]
    assert rocket_optimizers.slots(train_config(**changes))[0] == len(built)
