"""TFT preprocessing_fn: raw EasyRec columns -> embedding ids and the label.

Every feature comes out as a SparseTensor of int64 ids, one row per example: an id
feature has 0 or 1 id (0 when the value is missing), a tag list one id per item. The
model pools each row by its feature's combiner (sum by default), so a missing value is
simply an all-zero embedding, in training and in serving alike.
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


def raw_feature_spec(config: rocket_config.RocketConfig) -> dict:
    """Every input column variable-length, as SchemaGen(infer_feature_shape=False) writes
    the schema Transform reads: what the raw tf.Examples parse to before preprocessing_fn."""
    dtypes = {"int": tf.int64, "string": tf.string, "float": tf.float32}
    return {f.name: tf.io.VarLenFeature(dtypes[f.type]) for f in config.input_fields}


def table_size(feature: rocket_config.FeatureConfig, tft_output: tft.TFTransformOutput) -> int:
    """Rows of the feature's embedding table: the vocabulary, then the OOV buckets."""
    if feature.kind == rocket_config.BUCKET:
        return feature.num_buckets + 1  # the extra id is "outside [0, num_buckets)"
    if feature.kind == rocket_config.LOOKUP:
        return len(feature.boundaries) + 1
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
    """Row-ordered values as a SparseTensor. The row ids come sorted from the parser, so
    the ragged validation (an If + Assert per feature, run on every serving call) is
    skipped."""
    ragged = tf.RaggedTensor.from_value_rowids(values, value_rowids, nrows=nrows, validate=False)
    return ragged.to_sparse()


def _bucket_ids(raw: tf.SparseTensor, feature: rocket_config.FeatureConfig) -> tf.SparseTensor:
    raw = _as_sparse(raw)
    values = raw.values
    if values.dtype == tf.string:
        values = tf.strings.to_number(values, out_type=tf.int64)
    values = tf.cast(values, tf.int64)
    inside = (values >= 0) & (values < feature.num_buckets)
    ids = tf.where(inside, values, tf.constant(feature.num_buckets, tf.int64))
    return _rows_of(ids, raw.indices[:, 0], raw.dense_shape[0])


def _within_first(keep: tf.Tensor, rowids: tf.Tensor, rows: tf.Tensor, max_items: int) -> tf.Tensor:
    """`keep`, narrowed to the first `max_items` kept tokens of each row (`rowids` sorted):
    a kept token's rank in its row is its place among the kept tokens minus that of its
    row's first kept token (a segment minimum), and the kept tokens ranked past the cap
    are unset. It replaced a running count and a tf.searchsorted over every item, each
    slower than its few gathers here on ~15,000 items (batch 512): with the lookups'
    fingerprints (lookup_ids), the light net went from 3.39 to 2.99 parse floors at batch
    512, the served light model from 3.85 to 3.23 (`rocket bench --only serving`;
    docs/benchmarks.md, "Serving: the tag lists' preprocessing")."""
    positions = tf.where(keep)[:, 0]
    kept_rows = tf.gather(rowids, positions)
    place = tf.range(tf.size(positions, out_type=tf.int64), dtype=tf.int64)
    first = tf.math.unsorted_segment_min(place, kept_rows, rows)
    beyond = tf.gather(positions, tf.where(place - tf.gather(first, kept_rows) >= max_items)[:, 0])
    return tf.tensor_scatter_nd_update(keep, beyond[:, None], tf.zeros_like(beyond, tf.bool))


def _as_strings(values: tf.Tensor) -> tf.Tensor:
    """Raw values as the strings the vocabularies and lookups compare (ints as decimals)."""
    return values if values.dtype == tf.string else tf.strings.as_string(values)


def _tag_items(raw: tf.SparseTensor, separator: str, max_tag_items: int | None):
    """A tag-list column's items: (tokens, their row ids, which of them are kept): an
    item is kept when it is not empty and among its row's first `max_tag_items` non-empty
    items (all of them when None)."""
    items = tf.strings.split(_as_strings(raw.values), sep=separator)  # ragged [values, items]
    tokens = items.flat_values
    rowids = tf.gather(raw.indices[:, 0], items.value_rowids())
    # Empty items ("a||b", "") get no id. They are dropped from the int64 ids rather than
    # from the strings: in the serving graph the vocabulary's input is pruned, so masking
    # strings (~0.15 ms per tag feature and 512 rows) would only be paid there. The cap
    # is applied the same way, so the vocabulary counts exactly the items that get ids.
    keep = tf.strings.length(tokens) > 0
    if max_tag_items is not None:
        keep = _within_first(keep, rowids, raw.dense_shape[0], max_tag_items)
    return tokens, rowids, keep


def feature_tokens(
    raw: tf.SparseTensor, feature: rocket_config.FeatureConfig, max_tag_items: int | None = None
):
    """(tokens, counted, to_ids) of an id or tag-list feature: its values as 1-D string
    tokens, those of them that get an id (what its vocabulary counts), and the function
    from the tokens' ids to the feature's SparseTensor of ids, one row per example. A tag
    list has one id per non-empty item, for its first `max_tag_items` non-empty items
    (all of them when None)."""
    raw = _as_sparse(raw)
    if feature.kind != rocket_config.TAG:
        values = _as_strings(raw.values)
        # The rows are already right: keep the indices (no ragged round trip, which cost
        # ~10 serving ops per id feature).
        return values, values, lambda ids: tf.SparseTensor(raw.indices, ids, raw.dense_shape)
    tokens, rowids, keep = _tag_items(raw, feature.separator, max_tag_items)

    def to_ids(ids: tf.Tensor) -> tf.SparseTensor:
        kept_rows = tf.boolean_mask(rowids, keep)
        return _rows_of(tf.boolean_mask(ids, keep), kept_rows, raw.dense_shape[0])

    return tokens, tf.boolean_mask(tokens, keep), to_ids


def lookup_ids(
    tags: tf.SparseTensor, key: tf.SparseTensor, feature: rocket_config.FeatureConfig,
    max_tag_items: int | None = None,
) -> tf.SparseTensor:  # fmt: skip
    """A LOOKUP feature's ids, one a row: how many of the row's kept tag-list items equal
    the row's key value (0 when the key is missing), bucketed by `feature.boundaries`."""
    tags, key = _as_sparse(tags), _as_sparse(key)
    tokens, rowids, keep = _tag_items(tags, feature.separator, max_tag_items)
    rows = tags.dense_shape[0]
    # Compared by fingerprints: a gather of the row's key string for each item and a
    # string comparison cost more than hashing both sides and comparing integers (1.5
    # against 0.95 ms for 16,000 items, side by side); two different strings share a
    # fingerprint with probability about 2^-62.
    values = tf.strings.to_hash_bucket_fast(_as_strings(key.values), _FINGERPRINTS)
    # The row's first key value, -1 (no fingerprint) for a row without one. The column
    # appended keeps [:, 0] valid for a batch where no row has a key.
    dense = tf.sparse.to_dense(tf.SparseTensor(key.indices, values, key.dense_shape), -1)
    key_of_row = tf.concat([dense, tf.fill([rows, 1], tf.constant(-1, tf.int64))], axis=1)[:, 0]
    items = tf.strings.to_hash_bucket_fast(tokens, _FINGERPRINTS)
    matches = keep & tf.equal(items, tf.gather(key_of_row, rowids))
    counts = tf.math.unsorted_segment_sum(tf.cast(matches, tf.float32), rowids, rows)
    boundaries = tf.constant([list(feature.boundaries)], tf.float32)
    ids = tft.apply_buckets(counts, boundaries)
    return _rows_of(tf.cast(ids, tf.int64), tf.range(rows), rows)


_FINGERPRINTS = 2**62  # the range of the fingerprints a lookup compares


def uses_vocabulary(feature: rocket_config.FeatureConfig) -> bool:
    return feature.kind in (rocket_config.ID, rocket_config.TAG) and not feature.hash_bucket_size


def preprocessing_fn(inputs: dict, custom_config: dict) -> dict:
    """TFX Transform entry point; `custom_config[CONFIG_KEY]` is the RocketConfig JSON.
    Each feature's embedding ids: its TFT vocabulary with OOV buckets (all the features'
    vocabularies computed in one analyzer, rocket_vocabularies), a hash bucket, the
    bucket id, or a lookup's count bucket."""
    # Here, not at the top: it imports Beam (about 3 s in a new process), which the
    # processes that only read the ids (Trainer, Evaluator, report) need not pay.
    import rocket_vocabularies

    config = rocket_config.RocketConfig.from_json(custom_config[CONFIG_KEY])
    features = config.model_features()
    tokens = {
        f.name: feature_tokens(inputs[f.name], f, max_tag_items=config.max_tag_items)
        for f in features
        if f.kind in (rocket_config.ID, rocket_config.TAG)
    }
    with_vocabulary = [f for f in features if uses_vocabulary(f)]
    files = rocket_vocabularies.vocabularies(
        {f.name: tokens[f.name][1] for f in with_vocabulary},
        {f.name: (f.frequency_threshold, f.top_k) for f in with_vocabulary},
        {f.name: vocabulary_name(f.name) for f in with_vocabulary},
    )
    outputs = {}
    for feature in features:
        if feature.kind == rocket_config.BUCKET:
            ids = _bucket_ids(inputs[feature.name], feature)
        elif feature.kind == rocket_config.LOOKUP:
            tags, key = (inputs[name] for name in feature.input_names)
            ids = lookup_ids(tags, key, feature, max_tag_items=config.max_tag_items)
        else:
            values, _, to_ids = tokens[feature.name]
            if feature.hash_bucket_size:
                ids = to_ids(tf.strings.to_hash_bucket_fast(values, feature.hash_bucket_size))
            else:
                ids = to_ids(
                    tft.apply_vocabulary(
                        values, files[feature.name], num_oov_buckets=feature.num_oov_buckets
                    )
                )
        outputs[transformed_name(feature.name)] = ids
    label = _as_sparse(inputs[config.label_field])
    label = tft.sparse_tensor_to_dense_with_shape(label, [None, 1], 0)
    outputs[LABEL_KEY] = tf.cast(tf.squeeze(label, axis=1), tf.int64)
    return outputs
