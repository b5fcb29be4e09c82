"""TFT preprocessing_fn: raw EasyRec columns -> embedding ids and the label.

Every feature comes out as a SparseTensor of int64 ids, one row per example: an id
feature has 0 or 1 id (0 when the value is missing), a tag list one id per item. The
model sum-pools each row, so a missing value is simply an all-zero embedding, in
training and in serving alike.
"""

from __future__ import annotations

import rocket_config
import tensorflow as tf
import tensorflow_transform as tft

CONFIG_KEY = "rocket_config"  # the key of the config JSON in Transform/Trainer custom_config
LABEL_KEY = "label"


def transformed_name(feature_name: str) -> str:
    return f"{feature_name}_ids"


def vocabulary_name(feature_name: str) -> str:
    return f"{feature_name}_vocab"


def table_size(feature: rocket_config.FeatureConfig, tft_output: tft.TFTransformOutput) -> int:
    """Rows of the feature's embedding table: the vocabulary, then the OOV buckets."""
    if feature.kind == rocket_config.BUCKET:
        return feature.num_buckets + 1  # the extra id is "outside [0, num_buckets)"
    if feature.hash_bucket_size:
        return feature.hash_bucket_size
    vocab = tft_output.vocabulary_size_by_name(vocabulary_name(feature.name))
    return vocab + feature.num_oov_buckets


def _as_sparse(raw: tf.Tensor | tf.SparseTensor) -> tf.SparseTensor:
    """Dense inputs (a schema with inferred shapes: FixedLen [batch, 1]) as SparseTensors
    that keep every value, zeros included (tf.sparse.from_dense would drop id 0)."""
    if isinstance(raw, tf.SparseTensor):
        return raw
    if isinstance(raw, tf.RaggedTensor):
        return raw.to_sparse()
    if raw.shape.rank == 1:
        raw = tf.expand_dims(raw, 1)
    return tf.RaggedTensor.from_tensor(raw).to_sparse()


def _rows_of(values: tf.Tensor, value_rowids: tf.Tensor, nrows: tf.Tensor) -> tf.SparseTensor:
    ragged = tf.RaggedTensor.from_value_rowids(values, value_rowids, nrows=nrows)
    return ragged.to_sparse()


def _tokens(raw: tf.SparseTensor, feature: rocket_config.FeatureConfig) -> tf.SparseTensor:
    """The strings to look up, one row per example."""
    raw = _as_sparse(raw)
    values = raw.values
    if values.dtype != tf.string:
        values = tf.strings.as_string(values)
    if feature.kind != rocket_config.TAG:
        # The rows are already right: keep the indices (no ragged round trip, which cost
        # ~10 serving ops per id feature).
        return tf.SparseTensor(raw.indices, values, raw.dense_shape)
    rowids = raw.indices[:, 0]
    nrows = raw.dense_shape[0]
    items = tf.strings.split(values, sep=feature.separator)  # ragged [values, items]
    items = tf.ragged.boolean_mask(items, tf.strings.length(items) > 0)  # "a||b", ""
    item_rowids = tf.gather(rowids, items.value_rowids())
    return _rows_of(items.flat_values, item_rowids, nrows)


def _bucket_ids(raw: tf.SparseTensor, feature: rocket_config.FeatureConfig) -> tf.SparseTensor:
    raw = _as_sparse(raw)
    values = raw.values
    if values.dtype == tf.string:
        values = tf.strings.to_number(values, out_type=tf.int64)
    values = tf.cast(values, tf.int64)
    inside = (values >= 0) & (values < feature.num_buckets)
    ids = tf.where(inside, values, tf.constant(feature.num_buckets, tf.int64))
    return _rows_of(ids, raw.indices[:, 0], raw.dense_shape[0])


def feature_ids(raw: tf.SparseTensor, feature: rocket_config.FeatureConfig) -> tf.SparseTensor:
    """Embedding ids of one feature: TFT vocabulary with OOV buckets, a hash bucket, or the
    bucket id."""
    if feature.kind == rocket_config.BUCKET:
        return _bucket_ids(raw, feature)
    tokens = _tokens(raw, feature)
    if feature.hash_bucket_size:
        return tf.SparseTensor(
            tokens.indices,
            tf.strings.to_hash_bucket_fast(tokens.values, feature.hash_bucket_size),
            tokens.dense_shape,
        )
    return tft.compute_and_apply_vocabulary(
        tokens,
        top_k=feature.top_k,
        frequency_threshold=feature.frequency_threshold,
        num_oov_buckets=feature.num_oov_buckets,
        vocab_filename=vocabulary_name(feature.name),
    )


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    """TFX Transform entry point; `custom_config[CONFIG_KEY]` is the RocketConfig JSON."""
    config = rocket_config.RocketConfig.from_json(custom_config[CONFIG_KEY])
    outputs = {}
    for feature in config.model_features():
        outputs[transformed_name(feature.name)] = feature_ids(inputs[feature.name], feature)
    label = _as_sparse(inputs[config.label_field])
    label = tft.sparse_tensor_to_dense_with_shape(label, [None, 1], 0)
    outputs[LABEL_KEY] = tf.cast(tf.squeeze(label, axis=1), tf.int64)
    return outputs
