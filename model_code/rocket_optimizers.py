"""EasyRec's optimizers and learning rates (train_config.optimizer_config) as tf_keras ones.

The dense optimizers are tf_keras's own, given EasyRec's parameters. `LazyAdam` is
EasyRec's `lazy_adam_optimizer`: a gradient that is an IndexedSlices (an embedding
table's rows used by the batch) updates only those rows of the table and of its m and v
slots. tf_keras's Adam, like TF1's AdamOptimizer that EasyRec's `adam_optimizer` uses,
decays m and v of every row at every step, which makes a step cost the size of the table
(8x slower with a million-row user table). tf_keras has no lazy variant and TF Addons,
which had one, is unmaintained and does not support TF 2.16, hence the class here.
"""

from __future__ import annotations

import rocket_config
import tensorflow as tf
import tf_keras as keras

OPTIMIZERS = rocket_config.OPTIMIZERS
ADAM, LAZY_ADAM, ADAGRAD, MOMENTUM, RMS_PROP, FTRL = OPTIMIZERS


class DecayWithFloor(keras.optimizers.schedules.LearningRateSchedule):
    """EasyRec's exponential_decay_learning_rate: initial * factor^(step/decay_steps), with
    a floor at min_learning_rate. A factor of 1 is EasyRec's constant_learning_rate."""

    def __init__(
        self,
        initial: float,
        decay_steps: int,
        factor: float,
        minimum: float,
        staircase: bool = False,
    ):
        self.decay = keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps, factor, staircase=staircase
        )
        self.minimum = minimum

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        return tf.maximum(self.decay(step), self.minimum)

    def get_config(self) -> dict:
        return {**self.decay.get_config(), "minimum": self.minimum}


class LazyAdam(keras.optimizers.Adam):
    """Adam whose sparse updates read and write only the rows in the gradient.

    For an IndexedSlices gradient g of rows R (duplicates summed first), with t the step:
    m[R] = b1 m[R] + (1-b1) g, v[R] = b2 v[R] + (1-b2) g^2, and
    w[R] -= lr sqrt(1-b2^t)/(1-b1^t) m[R] / (sqrt(v[R]) + eps); other rows keep their
    m, v and weights. Dense gradients get tf_keras's Adam step unchanged.
    """

    def update_step(self, gradient, variable):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        lr = tf.cast(self.learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        index = self._index_dict[self._var_key(variable)]
        m, v = self._momentums[index], self._velocities[index]
        # A row used twice in the batch arrives twice: sum it, as a dense gradient would.
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(gradient.values, position, tf.size(rows))
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        variable.scatter_sub(
            tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows)
        )


def learning_rate(train: rocket_config.TrainConfig) -> DecayWithFloor:
    return DecayWithFloor(
        train.learning_rate,
        train.decay_steps,
        train.decay_factor,
        train.min_learning_rate,
        train.staircase,
    )


def make_optimizer(train: rocket_config.TrainConfig) -> keras.optimizers.Optimizer:
    """The optimizer `train.optimizer` names, with EasyRec's parameters and defaults."""
    rate = learning_rate(train)
    kind = train.optimizer
    if kind in (ADAM, LAZY_ADAM):
        cls = LazyAdam if kind == LAZY_ADAM else keras.optimizers.Adam
        return cls(learning_rate=rate, beta_1=train.beta1, beta_2=train.beta2)
    if kind == ADAGRAD:
        return keras.optimizers.Adagrad(
            learning_rate=rate, initial_accumulator_value=train.initial_accumulator_value
        )
    if kind == MOMENTUM:
        return keras.optimizers.SGD(learning_rate=rate, momentum=train.momentum)
    if kind == RMS_PROP:
        # TF1's RMSPropOptimizer (EasyRec's) names rho `decay`.
        return keras.optimizers.RMSprop(
            learning_rate=rate,
            rho=train.rms_decay,
            momentum=train.momentum,
            epsilon=train.rms_epsilon,
        )
    if kind == FTRL:
        return keras.optimizers.Ftrl(
            learning_rate=rate,
            learning_rate_power=train.learning_rate_power,
            initial_accumulator_value=train.initial_accumulator_value,
            l1_regularization_strength=train.l1_reg,
            l2_regularization_strength=train.l2_reg,
            l2_shrinkage_regularization_strength=train.l2_shrinkage_reg,
        )
    raise ValueError(f"train_config: optimizer {kind!r} is not one of {OPTIMIZERS}")


def slots(train: rocket_config.TrainConfig) -> tuple[int, str]:
    """How many copies of each weight the optimizer keeps, and what they are (tf_keras's
    slot variables), for the Trainer's memory estimate of the embedding tables."""
    kind = train.optimizer
    if kind in (ADAM, LAZY_ADAM):
        return 2, "m and v"
    if kind == ADAGRAD:
        return 1, "accumulator"
    if kind == MOMENTUM:
        return 1, "momentum"  # tf_keras's SGD builds it even at momentum 0
    if kind == RMS_PROP:
        return (2, "velocity and momentum") if train.momentum else (1, "velocity")
    if kind == FTRL:
        return 2, "accumulator and linear"
    raise ValueError(f"train_config: optimizer {kind!r} is not one of {OPTIMIZERS}")
