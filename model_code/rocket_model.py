"""The Rocket Launching Keras model: embeddings -> share -> booster / light, and its losses.

Wiring follows EasyRec's RocketLaunching (see docs): the light tower reads
`stop_gradient(share)` unless `light_trains_share` (the paper's variant); the hint loss is
the MSE between `stop_gradient(booster_logits)` and `light_logits`; feature-based
distillation pulls each light hidden layer towards the first booster layer of the same
width. EasyRec's bug (it always took the Euclidean branch with weight -0.1, rewarding
distance) is corrected: similarities are maximised, distances minimised.
"""

from __future__ import annotations

import numpy as np
import rocket_config
import rocket_optimizers
import rocket_preprocessing
import tensorflow as tf
import tf_keras as keras
from rocket_config import DNNConfig, FeatureConfig, ModelConfig

LIGHT = "light"
BOOSTER = "booster"


def served_net(model_config) -> str:
    """The net a model of this ModelConfig serves and is judged by: the light net, or
    the booster when it is trained alone (a baseline)."""
    return BOOSTER if model_config.nets == BOOSTER else LIGHT


def _l2(scale: float) -> keras.regularizers.Regularizer | None:
    # EasyRec's l2_regularizer(scale) is scale * sum(w^2) / 2; Keras L2(l) is l * sum(w^2).
    return keras.regularizers.L2(scale / 2) if scale > 0 else None


class FeatureEmbeddings(keras.layers.Layer):
    """One table per feature; each row's ids are pooled by the feature's combiner (sum by
    default); groups are concatenated. With `distinct_tags`, a tag token repeated in a row
    counts once (the linear baseline's one-hot view, rocket_config.LINEAR_MODEL).

    The tables carry no regularizer: EasyRec's embedding_regularization applies to the
    pooled embeddings of the batch (its input layer regularizes the embedding columns'
    outputs), which RocketLaunchingModel adds to the loss, as it adds a linear model's
    weight_regularization.
    """

    def __init__(
        self,
        features: tuple[FeatureConfig, ...],
        table_sizes: dict[str, int],
        groups: tuple[rocket_config.FeatureGroup, ...],
        distinct_tags: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.feature_order = [name for g in groups for name in g.feature_names]
        # The raw columns the ids come from (a lookup feature reads two, under other names).
        self.input_columns = sorted({c for f in features for c in f.columns()})
        self.distinct = {f.name for f in features if distinct_tags and f.kind == rocket_config.TAG}
        # An id or bucket feature has at most one id a row: every combiner is its sum.
        self.combiners = {f.name: f.combiner if f.kind == rocket_config.TAG else "sum"
                          for f in features}  # fmt: skip
        self.tables = {}
        for feature in features:
            self.tables[feature.name] = self.add_weight(
                name=f"{feature.name}_embedding",
                shape=(table_sizes[feature.name], feature.embedding_dim),
                initializer=keras.initializers.RandomUniform(-0.05, 0.05),
            )

    def call(self, features: dict) -> tf.Tensor:
        pooled = []
        for name in self.feature_order:
            ids = features[rocket_preprocessing.transformed_name(name)]
            if name in self.distinct:
                ids = distinct_ids(ids, tf.shape(self.tables[name], out_type=tf.int64)[0])
            pooled.append(pool(self.tables[name], ids, self.combiners[name]))
        return tf.concat(pooled, axis=1)


def distinct_ids(ids: tf.SparseTensor, table_size: tf.Tensor) -> tf.SparseTensor:
    """Each row's ids with repeats dropped (first occurrences, in order). The rows stay
    sorted, as SparseSegmentSum needs: a (row, id) key row * table_size + id is below
    every key of the next row, and tf.unique keeps first-occurrence order."""
    keys, _ = tf.unique(ids.indices[:, 0] * table_size + ids.values)
    rows = keys // table_size
    position = tf.range(tf.size(keys, out_type=tf.int64))
    column = position - tf.gather(tf.math.segment_min(position, rows), rows)
    return tf.SparseTensor(tf.stack([rows, column], axis=1), keys % table_size, ids.dense_shape)


# EasyRec's combiners as TensorFlow's sparse segment ops (what tf.nn.embedding_lookup_sparse
# runs for each): each reads the table rows in place and leaves a row without ids zero.
_SEGMENT_OPS = {
    "sum": tf.sparse.segment_sum,
    "mean": tf.sparse.segment_mean,
    "sqrtn": tf.sparse.segment_sqrt_n,
}


def pool(table: tf.Variable, ids: tf.SparseTensor, combiner: str) -> tf.Tensor:
    """Each row's embeddings combined as EasyRec's embedding columns do: "sum", "mean"
    (the sum over the row's id count) or "sqrtn" (over its square root); a row without
    ids gives zeros with every combiner. Only tag lists have more than one id a row.

    The same result as tf.nn.safe_embedding_lookup_sparse with that combiner for our ids
    (never negative: every vocabulary has OOV buckets), in one SparseSegment op instead of
    ~40 ops that re-check, prune and re-fill empty rows: it reads the table rows and pools
    them in place (no gathered copy; ~0.4 ms less per 512 served rows than gather +
    segment sum). The rows of a SparseTensor are sorted, as the op requires, and
    `sparse_gradient` keeps the table's gradient an IndexedSlices of the rows used.
    """
    return _SEGMENT_OPS[combiner](
        table,
        ids.values,
        ids.indices[:, 0],
        num_segments=ids.dense_shape[0],
        sparse_gradient=True,
    )


def sum_pool(table: tf.Variable, ids: tf.SparseTensor) -> tf.Tensor:
    """Each row's embeddings summed; a row without ids (a missing value) gives zeros."""
    return pool(table, ids, "sum")


class DNNTower(keras.layers.Layer):
    """EasyRec's DNN block: Dense (L2) -> BatchNorm -> activation -> dropout, per layer."""

    def __init__(self, config: DNNConfig, l2_regularization: float, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.dense_layers = [
            keras.layers.Dense(units, kernel_regularizer=_l2(l2_regularization), name=f"dense_{i}")
            for i, units in enumerate(config.hidden_units)
        ]
        self.norm_layers = [
            keras.layers.BatchNormalization(name=f"bn_{i}") if config.use_bn else None
            for i in range(len(config.hidden_units))
        ]
        self.activation = keras.activations.get(config.activation)
        self.dropout = keras.layers.Dropout(config.dropout_ratio) if config.dropout_ratio else None

    def call(self, inputs: tf.Tensor, training: bool = False) -> list[tf.Tensor]:
        """The output of every layer (the last is the tower's output)."""
        hidden = []
        x = inputs
        for dense, norm in zip(self.dense_layers, self.norm_layers):
            x = dense(x)
            if norm is not None:
                x = norm(x, training=training)
            x = self.activation(x)
            if self.dropout is not None:
                x = self.dropout(x, training=training)
            hidden.append(x)
        return hidden


class FoldedTower(tf.Module):
    """A trained DNNTower for serving: each BatchNorm folded into its Dense layer.

    At inference BatchNorm is the affine map x * s + (beta - mean * s) with
    s = gamma / sqrt(moving_variance + epsilon), so Dense -> BatchNorm equals one Dense
    with kernel * s and (bias - mean) * s + beta. The served graph then has one fused
    MatMul + BiasAdd + activation per layer instead of ~8 ops, and the net the same
    outputs (to float rounding). Dropout is the identity at inference and is left out.
    The folded weights are copies: the training model is not changed.
    """

    def __init__(self, tower: DNNTower, name: str | None = None):
        super().__init__(name=name or tower.name)
        self.activation = tower.activation
        self.kernels, self.biases = [], []
        for i, (dense, norm) in enumerate(zip(tower.dense_layers, tower.norm_layers)):
            kernel = dense.kernel.numpy()
            bias = dense.bias.numpy()
            if norm is not None:
                scale = norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
                kernel = kernel * scale
                bias = (bias - norm.moving_mean.numpy()) * scale + norm.beta.numpy()
            self.kernels.append(tf.Variable(kernel, trainable=False, name=f"dense_{i}/kernel"))
            self.biases.append(tf.Variable(bias, trainable=False, name=f"dense_{i}/bias"))

    def __call__(self, inputs: tf.Tensor, training: bool = False) -> list[tf.Tensor]:
        hidden = []
        x = inputs
        for kernel, bias in zip(self.kernels, self.biases):
            x = self.activation(tf.nn.bias_add(tf.matmul(x, kernel), bias))
            hidden.append(x)
        return hidden


def tower_output(hidden: list[tf.Tensor], inputs: tf.Tensor) -> tf.Tensor:
    """The last layer's output; a tower without layers passes its input through."""
    return hidden[-1] if hidden else inputs


def probabilities_from_logits(logits: tf.Tensor, num_class: int) -> tf.Tensor:
    """Click probability: softmax(logits)[:, 1] for 2 classes, sigmoid for 1.

    For 2 classes it is computed as sigmoid(logit_1 - logit_0), the same value: oneDNN's
    softmax kernel cost ~0.09 ms per served batch of 512, two elementwise ops ~0.01."""
    if num_class == 2:
        return tf.sigmoid(logits[:, 1] - logits[:, 0])
    return tf.sigmoid(logits[:, 0])


def distillation_pairs(
    light_units: tuple[int, ...], booster_units: tuple[int, ...]
) -> list[tuple[int, int]]:
    """(light layer, booster layer) pairs: each light layer with the first booster layer of
    the same width; light layers without one are left out."""
    pairs = []
    for i, width in enumerate(light_units):
        if width in booster_units:
            pairs.append((i, booster_units.index(width)))
    return pairs


class NetPath(tf.Module):
    """The layers of ONE net (embeddings, share, its tower, its head) for inference.

    Exporting a NetPath saves exactly these variables, so the light SavedModel cannot
    carry a booster weight.
    """

    def __init__(
        self,
        embeddings: FeatureEmbeddings,
        share_tower: DNNTower | FoldedTower | None,
        tower: DNNTower | FoldedTower,
        head: keras.layers.Dense,
        num_class: int,
        name: str,
    ):
        super().__init__(name=name)
        self.embeddings = embeddings
        self.share_tower = share_tower
        self.tower = tower
        self.head = head
        self.num_class = num_class

    def logits(self, transformed: dict) -> tf.Tensor:
        x = self.embeddings(transformed)
        if self.share_tower is not None:
            x = self.share_tower(x, training=False)[-1]
        return self.head(tower_output(self.tower(x, training=False), x))

    def __call__(self, transformed: dict) -> tf.Tensor:
        return probabilities_from_logits(self.logits(transformed), self.num_class)

    @property
    def input_columns(self) -> list[str]:
        """The raw columns this net reads."""
        return self.embeddings.input_columns

    def folded(self) -> NetPath:
        """The same net with its BatchNorms folded (FoldedTower): what is exported."""
        share = FoldedTower(self.share_tower) if self.share_tower is not None else None
        return NetPath(
            self.embeddings, share, FoldedTower(self.tower), self.head, self.num_class, self.name
        )


class RocketLaunchingModel(keras.Model):
    """Booster and light nets trained jointly; `train_step` adds the Rocket Launching losses."""

    def __init__(
        self,
        config: ModelConfig,
        features: tuple[FeatureConfig, ...],
        table_sizes: dict[str, int],
        **kwargs,
    ):
        super().__init__(**kwargs)
        if config.embedding_regularization is None:
            raise ValueError(
                "model_config: embedding_regularization is unset; it is chosen from the train "
                "rows (rocket_config.for_train_rows) before a model is built"
            )
        self.rocket = config
        self.embeddings = FeatureEmbeddings(
            features,
            table_sizes,
            config.feature_groups,
            distinct_tags=config.distinct_tag_tokens,
            name="embeddings",
        )
        l2 = config.l2_regularization
        self.share_tower = (
            DNNTower(config.share_dnn, l2, name="share") if config.share_dnn else None
        )
        # A net trained alone (nets="light" / "booster") is built without the other one, so
        # its training steps cost what that net costs.
        self.booster_tower = self.booster_head = self.light_tower = self.light_head = None
        if config.nets != LIGHT:
            self.booster_tower = DNNTower(config.booster_dnn, l2, name="booster")
            self.booster_head = keras.layers.Dense(
                config.num_class, kernel_regularizer=_l2(l2), name="booster_head"
            )
        if config.nets != BOOSTER:
            self.light_tower = DNNTower(config.light_dnn, l2, name="light")
            self.light_head = keras.layers.Dense(
                config.num_class, kernel_regularizer=_l2(l2), name="light_head"
            )
        self.pairs = (
            distillation_pairs(config.light_dnn.hidden_units, config.booster_dnn.hidden_units)
            if config.feature_based_distillation and config.nets == "both"
            else []
        )
        self.loss_trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "total_loss",
                "light_ce",
                "booster_ce",
                "hint_loss",
                "distillation_loss",
                "regularization_loss",
            )
        }
        # 10,000 thresholds, as TFMA's AUC, so the numbers are comparable with the Evaluator.
        self.auc_light = keras.metrics.AUC(num_thresholds=10000, name="auc_light")
        self.auc_booster = keras.metrics.AUC(num_thresholds=10000, name="auc_booster")

    # --- forward ----------------------------------------------------------------------------

    def call(self, features: dict, training: bool = False) -> dict:
        """Logits and hidden layers of the nets this model has (`*_logits`, `*_hidden`)."""
        x = self.embeddings(features)
        share = self.share_tower(x, training=training)[-1] if self.share_tower else x
        # EasyRec's l2_regularizer(scale) on the batch's pooled embeddings: scale/2 * sum.
        penalty = self.rocket.embedding_regularization / 2 * tf.reduce_sum(tf.square(x))
        outputs = {"embedding_regularization": penalty}
        if self.booster_tower is not None:
            booster_hidden = self.booster_tower(share, training=training)
            outputs["booster_logits"] = self.booster_head(tower_output(booster_hidden, share))
            outputs["booster_hidden"] = booster_hidden
        if self.light_tower is not None:
            # Alone, the light net must train the shared layers: nothing else would.
            trains_share = self.rocket.light_trains_share or self.rocket.nets == LIGHT
            light_input = share if trains_share else tf.stop_gradient(share)
            light_hidden = self.light_tower(light_input, training=training)
            outputs["light_logits"] = self.light_head(tower_output(light_hidden, light_input))
            outputs["light_hidden"] = light_hidden
        return outputs

    def net_path(self, net: str) -> NetPath:
        tower, head = {
            LIGHT: (self.light_tower, self.light_head),
            BOOSTER: (self.booster_tower, self.booster_head),
        }[net]
        if tower is None:
            raise ValueError(f"this model has no {net} net (nets={self.rocket.nets!r})")
        return NetPath(
            self.embeddings,
            self.share_tower,
            tower,
            head,
            self.rocket.num_class,
            name=f"{net}_path",
        )

    # --- losses -----------------------------------------------------------------------------

    def _cross_entropy(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        if self.rocket.num_class == 2:
            return tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
        return tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.cast(labels, logits.dtype), logits=logits[:, 0]
            )
        )

    def _distillation(self, light_hidden: list, booster_hidden: list) -> tf.Tensor:
        weight = self.rocket.feature_distillation_weight
        function = self.rocket.feature_distillation_function
        total = tf.constant(0.0)
        for light_index, booster_index in self.pairs:
            light = light_hidden[light_index]
            booster = tf.stop_gradient(booster_hidden[booster_index])
            if function == "COSINE":
                similarity = tf.reduce_sum(
                    tf.nn.l2_normalize(light, axis=1) * tf.nn.l2_normalize(booster, axis=1), axis=1
                )
                total += -weight * tf.reduce_mean(similarity)
            elif function == "INNER_PRODUCT":
                total += -weight * tf.reduce_mean(tf.reduce_sum(light * booster, axis=1))
            else:  # EUCLID: a distance, so it is added, not subtracted (EasyRec's bug)
                distance = tf.sqrt(tf.reduce_sum(tf.square(light - booster), axis=1) + 1e-12)
                total += weight * tf.reduce_mean(distance)
        return total

    def logit_weights(self) -> dict[str, tf.Tensor]:
        """A linear model's weight of each id and tag token in the click logit, by feature:
        its embedding times the head's click direction (the click column minus the other
        with two classes). Only a linear model (rocket_config.is_linear) has them."""
        if not rocket_config.is_linear(self.rocket):
            raise ValueError("only a linear model has logit weights (rocket_config.is_linear)")
        kernel = self.light_head.kernel  # the pooled embeddings, in feature order -> logits
        click = kernel[:, 1] - kernel[:, 0] if self.rocket.num_class == 2 else kernel[:, 0]
        weights, start = {}, 0
        for name in self.embeddings.feature_order:
            table = self.embeddings.tables[name]
            width = int(table.shape[1])
            weights[name] = tf.linalg.matvec(table, click[start : start + width])
            start += width
        return weights

    def holds_any_linear_function(self) -> bool:
        """Whether set_logit_weights can give this model any logistic regression over the
        one-hot ids and tag tokens: a linear model whose features each pool their ids by
        summing (a tag list's mean or sqrtn divides by the row's token count) and appear
        once in the concatenated embeddings."""
        order = self.embeddings.feature_order
        return (
            rocket_config.is_linear(self.rocket)
            and len(set(order)) == len(order)
            and all(self.embeddings.combiners[name] == "sum" for name in order)
        )

    def set_logit_weights(self, weights: dict[str, np.ndarray], intercept: float) -> None:
        """The inverse of logit_weights: the weights that make this linear model's click
        logit intercept + the sum of `weights[feature][id]` over a row's ids and distinct
        tag tokens. Each table's first column holds its feature's weights, the rest zero,
        and the head reads that column alone."""
        if not self.holds_any_linear_function():
            raise ValueError("only a linear model whose features pool by sum takes logit weights")
        order = self.embeddings.feature_order
        if set(weights) != set(order):
            raise ValueError(f"logit weights for {sorted(weights)}; the model has {sorted(order)}")
        click = 1 if self.rocket.num_class == 2 else 0
        kernel = np.zeros(self.light_head.kernel.shape, np.float32)
        bias = np.zeros(self.light_head.bias.shape, np.float32)
        start = 0
        for name in order:
            table = self.embeddings.tables[name]
            values = np.zeros(table.shape, np.float32)
            values[:, 0] = weights[name]
            table.assign(values)
            kernel[start, click] = 1.0
            start += int(table.shape[1])
        bias[click] = intercept
        self.light_head.kernel.assign(kernel)
        self.light_head.bias.assign(bias)

    def _weight_penalty(self) -> tf.Tensor:
        """weight_regularization/2 * the sum of the logit weights squared: a logistic
        regression's L2. On the tables alone it would not hold: the head can grow while
        the tables shrink, the same weights at a smaller penalty, so the baseline trained
        to its end overfitted (10,000 generated rows, one fold: 0.77 AUC against 0.80
        stopped early; docs/benchmarks.md)."""
        scale = self.rocket.weight_regularization
        if not scale:
            return tf.constant(0.0)
        squares = [tf.reduce_sum(tf.square(w)) for w in self.logit_weights().values()]
        return scale / 2 * tf.add_n(squares)

    def rocket_losses(self, outputs: dict, labels: tf.Tensor) -> dict:
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
        light_logits = outputs.get("light_logits")
        booster_logits = outputs.get("booster_logits")
        zero = tf.constant(0.0)
        both = light_logits is not None and booster_logits is not None
        losses = {
            "light_ce": zero if light_logits is None else self._cross_entropy(labels, light_logits),
            "booster_ce": (
                zero if booster_logits is None else self._cross_entropy(labels, booster_logits)
            ),
            # The booster side is a constant: the booster learns from labels only.
            "hint_loss": (
                self.rocket.hint_weight
                * tf.reduce_mean(tf.square(tf.stop_gradient(booster_logits) - light_logits))
                if both
                else zero
            ),
            "distillation_loss": (
                self._distillation(outputs["light_hidden"], outputs["booster_hidden"])
                if both
                else zero
            ),
            "regularization_loss": tf.add_n(
                [
                    *self.losses,
                    outputs.get("embedding_regularization", zero),
                    self._weight_penalty(),
                ]
            ),
        }
        losses["total_loss"] = tf.add_n(list(losses.values()))
        return losses

    # --- Keras hooks ------------------------------------------------------------------------

    @property
    def metrics(self) -> list:
        return [*self.loss_trackers.values(), self.auc_light, self.auc_booster]

    def _record(self, losses: dict, outputs: dict, labels: tf.Tensor) -> dict:
        for name, value in losses.items():
            self.loss_trackers[name].update_state(value)
        labels = tf.reshape(labels, [-1])
        num_class = self.rocket.num_class
        if "light_logits" in outputs:
            self.auc_light.update_state(
                labels, probabilities_from_logits(outputs["light_logits"], num_class)
            )
        if "booster_logits" in outputs:
            self.auc_booster.update_state(
                labels, probabilities_from_logits(outputs["booster_logits"], num_class)
            )
        return {m.name: m.result() for m in self.metrics}

    # No step has data-dependent Python control flow (every loop and `if` is over the
    # static configuration), so AutoGraph has nothing to convert; skipping it cuts the
    # trace of a train step from ~14 s to a fraction (Trainer start-up, `rocket bench`).
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data: tuple) -> dict:
        features, labels = data
        with tf.GradientTape() as tape:
            outputs = self(features, training=True)
            losses = self.rocket_losses(outputs, labels)
            # Gradients are summed over replicas (MultiWorkerMirroredStrategy); each replica
            # averages its own slice of the global batch, so dividing by the replica count
            # gives the gradient of the global-batch mean. One replica: unchanged.
            scaled_loss = losses["total_loss"] / self.distribute_strategy.num_replicas_in_sync
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(
            (g, v) for g, v in zip(gradients, variables) if g is not None
        )
        return self._record(losses, outputs, labels)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data: tuple) -> dict:
        features, labels = data
        outputs = self(features, training=False)
        return self._record(self.rocket_losses(outputs, labels), outputs, labels)


def build_model(
    config: rocket_config.RocketConfig, table_sizes: dict[str, int]
) -> RocketLaunchingModel:
    """The model, its weights created (called once on an empty batch, so they are drawn
    now, from the random state of this moment, not at the first training step), compiled
    with the configured optimizer and learning rate (EasyRec's train_config; the seed's:
    Adam with exponential decay)."""
    model = RocketLaunchingModel(config.model, config.model_features(), table_sizes)
    model(empty_batch(config))
    model.compile(optimizer=rocket_optimizers.make_optimizer(config.train))
    return model


def empty_batch(config: rocket_config.RocketConfig) -> dict[str, tf.SparseTensor]:
    """Transformed features of no row: every feature's ids, none of them."""
    empty = tf.SparseTensor(
        tf.zeros([0, 2], tf.int64), tf.zeros([0], tf.int64), tf.constant([0, 1], tf.int64)
    )
    return {rocket_preprocessing.transformed_name(f.name): empty for f in config.model_features()}
