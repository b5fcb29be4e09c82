"""preprocessing_fn under a real TFT Beam run: vocabularies with a frequency floor and OOV
buckets, tag lists split on '|', price buckets, missing values as empty id lists."""

import dataclasses
import functools

import numpy as np
import pytest
import rocket_config
import rocket_preprocessing
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from rocket_config import BUCKET, ID, LOOKUP, TAG, FeatureConfig, FeatureGroup, InputField
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

CONFIG = rocket_config.RocketConfig(
    input_fields=(
        InputField("clk", "int"),
        InputField("user_id"),
        InputField("tags"),
        InputField("price", "int"),
    ),
    label_field="clk",
    features=(
        FeatureConfig("user_id", kind=ID, frequency_threshold=2, num_oov_buckets=3),
        FeatureConfig("tags", kind=TAG, frequency_threshold=1, num_oov_buckets=2),
        FeatureConfig("price", kind=BUCKET, num_buckets=50),
    ),
    model=rocket_config.ModelConfig(
        feature_groups=(FeatureGroup("all", ("user_id", "tags", "price")),)
    ),
).validate()

RAW = [
    {"clk": [1], "user_id": ["u1"], "tags": ["a|b||a"], "price": [3]},
    {"clk": [0], "user_id": ["u1"], "tags": [""], "price": [60]},
    {"clk": [0], "user_id": ["u1"], "tags": ["b"], "price": [-1]},
    {"clk": [1], "user_id": ["u2"], "tags": [], "price": []},
    {"clk": [0], "user_id": ["u2"], "tags": ["c"], "price": [49]},
    {"clk": [0], "user_id": ["u3"], "tags": ["a"], "price": [0]},
    {"clk": [0], "user_id": [], "tags": ["a"], "price": [1]},
]


def analyze_and_transform(config, raw, tmp_path_factory):
    spec = rocket_preprocessing.raw_feature_spec(config)  # every column VarLen
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    fn = functools.partial(
        rocket_preprocessing.preprocessing_fn,
        custom_config={rocket_preprocessing.CONFIG_KEY: config.to_json()},
    )
    out_dir = str(tmp_path_factory.mktemp("tft"))
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tmp")), force_tf_compat_v1=False):
        (data, _), transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return data, tft.TFTransformOutput(out_dir)


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    return analyze_and_transform(CONFIG, RAW, tmp_path_factory)


def ids(row: dict, name: str) -> list[int]:
    return list(np.asarray(row[rocket_preprocessing.transformed_name(name)]).tolist())


def test_id_vocabulary_has_frequency_floor_and_oov(transformed):
    data, output = transformed
    vocab_size = output.vocabulary_size_by_name("user_id_vocab")
    assert vocab_size == 2  # u1 (3x) and u2 (2x); u3 (1x) is under the floor
    user_ids = [ids(row, "user_id") for row in data]
    assert user_ids[0] == user_ids[1] == user_ids[2] and user_ids[0][0] < vocab_size
    assert user_ids[3] == user_ids[4] and user_ids[3][0] < vocab_size
    assert vocab_size <= user_ids[5][0] < vocab_size + 3  # OOV bucket
    assert user_ids[6] == []  # missing value -> no id
    size = rocket_preprocessing.table_size(CONFIG.feature("user_id"), output)
    assert size == 5


def test_tag_lists_split_into_variable_length_ids(transformed):
    data, output = transformed
    tag_ids = [ids(row, "tags") for row in data]
    assert len(tag_ids[0]) == 3 and tag_ids[0][0] == tag_ids[0][2] != tag_ids[0][1]
    assert tag_ids[1] == [] and tag_ids[3] == []
    assert tag_ids[2] == [tag_ids[0][1]]  # "b"
    assert output.vocabulary_size_by_name("tags_vocab") == 3


def test_price_bucket_ids_with_one_out_of_range_id(transformed):
    data, _ = transformed
    assert [ids(row, "price") for row in data] == [[3], [50], [50], [], [49], [0], [1]]


def test_label_is_dense(transformed):
    data, _ = transformed
    assert [int(row[rocket_preprocessing.LABEL_KEY]) for row in data] == [1, 0, 0, 1, 0, 0, 0]


def test_tag_lists_keep_their_first_max_tag_items_non_empty_items(tmp_path_factory):
    config = rocket_config.with_changes(CONFIG, max_tag_items=2)
    raw = [
        {"clk": [1], "user_id": ["u1"], "tags": ["||a|b|c|c"], "price": [1]},
        {"clk": [0], "user_id": ["u1"], "tags": ["b|a"], "price": [1]},
        {"clk": [0], "user_id": ["u1"], "tags": ["z"], "price": [1]},
    ]
    data, output = analyze_and_transform(config, raw, tmp_path_factory)
    tag_ids = [ids(row, "tags") for row in data]
    a, b = tag_ids[0]  # empty items do not count towards the cap; c is cut off
    assert tag_ids[1] == [b, a] and len(tag_ids[2]) == 1
    # The vocabulary counted only the items that get ids: c, seen only past the cap, has
    # no entry of its own (a, b, z do).
    assert output.vocabulary_size_by_name("tags_vocab") == 3
    vocabulary = output.vocabulary_by_name("tags_vocab")
    assert b"c" not in vocabulary and {b"a", b"b", b"z"} == set(vocabulary)


def test_a_lookup_counts_the_key_among_the_kept_items_in_buckets(tmp_path_factory):
    """EasyRec's LookupFeature over a plain list: the row's key (an int column here,
    compared as its string) counted among its first max_tag_items non-empty items, then
    bucketed: 0 | 1 | 2-3 | 4+."""
    lookup = FeatureConfig("cate_in_tags", kind=LOOKUP, input_names=("tags", "cate"),
                           boundaries=(1.0, 2.0, 4.0))  # fmt: skip
    config = rocket_config.RocketConfig(
        input_fields=(InputField("clk", "int"), InputField("tags"), InputField("cate", "int")),
        label_field="clk",
        features=(FeatureConfig("tags", kind=TAG, frequency_threshold=1), lookup),
        model=rocket_config.ModelConfig(
            feature_groups=(FeatureGroup("all", ("tags", "cate_in_tags")),)
        ),
        max_tag_items=3,
    ).validate()
    raw = [
        {"clk": [1], "tags": ["7|8|7"], "cate": [7]},  # 2 of 3 items
        {"clk": [0], "tags": ["||9|5|9|9|9"], "cate": [9]},  # 2 in the first 3 kept items
        {"clk": [0], "tags": ["8"], "cate": [8]},  # 1
        {"clk": [0], "tags": ["8|7"], "cate": [9]},  # not in the list
        {"clk": [0], "tags": ["8|7"], "cate": []},  # no key: no match, not a match of ""
        {"clk": [0], "tags": [], "cate": [7]},  # no list
        {"clk": [1], "tags": ["3|3|3"], "cate": [3]},  # 3 -> the 2-3 bucket
    ]
    data, output = analyze_and_transform(config, raw, tmp_path_factory)
    assert [ids(row, "cate_in_tags") for row in data] == [[2], [2], [1], [0], [0], [0], [2]]
    assert rocket_preprocessing.table_size(lookup, output) == 4
    four = rocket_config.with_changes(config, max_tag_items=10)
    data, _ = analyze_and_transform(four, raw[1:2], tmp_path_factory)
    assert [ids(row, "cate_in_tags") for row in data] == [[3]]  # 4 of 4: the last bucket


def test_transform_gets_only_what_preprocessing_reads(transformed, tmp_path_factory):
    """Transform's custom_config is RocketConfig.for_transform(): a model or training change
    leaves it (and so Transform's cache key) unchanged, an id setting does not, and
    preprocessing on it gives exactly what it gives on the whole configuration."""
    changed = rocket_config.with_changes(
        CONFIG,
        **{
            "model.hint_weight": 0.3,
            "model.light_dnn": rocket_config.DNNConfig((8,)),
            "model.feature_based_distillation": True,
            "train.learning_rate": 0.01,
            "train.train_steps": 7,
            "slice_fields": ("user_id",),
        },
    )
    changed = dataclasses.replace(
        changed,
        features=tuple(dataclasses.replace(f, embedding_dim=4) for f in changed.features),
        model=dataclasses.replace(
            changed.model,
            feature_groups=(
                FeatureGroup("u", ("user_id",)),
                FeatureGroup("rest", ("tags", "price")),
            ),
        ),
    ).validate()
    assert changed.for_transform().to_json() == CONFIG.for_transform().to_json()
    vocabulary = rocket_config.with_changes(CONFIG, max_tag_items=3)
    assert vocabulary.for_transform().to_json() != CONFIG.for_transform().to_json()

    data, output = analyze_and_transform(CONFIG.for_transform(), RAW, tmp_path_factory)
    whole, whole_output = transformed
    assert [{k: np.asarray(v).tolist() for k, v in row.items()} for row in data] == [
        {k: np.asarray(v).tolist() for k, v in row.items()} for row in whole
    ]
    for name in ("user_id", "tags"):
        vocab = rocket_preprocessing.vocabulary_name(name)
        assert output.vocabulary_by_name(vocab) == whole_output.vocabulary_by_name(vocab)


def test_the_one_pass_vocabularies_are_the_files_tft_vocabulary_writes(tmp_path_factory):
    """rocket_vocabularies' analyzer (all features in one Beam pass) against one
    tft.vocabulary per feature on the same tokens: the same files, byte for byte, for a
    frequency floor, a top_k, ties in count (decreasing bytes), tokens a text file cannot
    hold (empty, with a line break), integer-looking tokens, and a feature with no token
    at all (TFT's dummy entry); and the same ids from tft.apply_vocabulary."""
    import rocket_vocabularies
    import tensorflow as tf

    settings = {"a": (2, None), "b": (None, 3), "c": (1, None), "d": (None, None)}
    rows = [
        {"a": [b"x", b"y", b"x", b"\n"], "b": [b"10", b"9", b"9"], "c": [b"only"], "d": []},
        {"a": [b"y", b"z", b"", b"w\rw"], "b": [b"10", b"8", b"7"], "c": [b"only"], "d": []},
        {"a": [b"w", b"v", b"v", b"x"], "b": [b"11", b"7", b"8"], "c": [b"more"], "d": []},
    ]
    spec = {name: tf.io.VarLenFeature(tf.string) for name in settings}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))

    def per_row(raw, ids):
        return tf.SparseTensor(raw.indices, ids, raw.dense_shape)

    def with_tft(inputs):
        outputs = {}
        for name, (threshold, top_k) in settings.items():
            tokens = inputs[name].values
            file = tft.vocabulary(tokens, frequency_threshold=threshold, top_k=top_k,
                                  vocab_filename=f"tft_{name}")  # fmt: skip
            outputs[name] = per_row(
                inputs[name], tft.apply_vocabulary(tokens, file, num_oov_buckets=1)
            )
        return outputs

    def with_one_pass(inputs):
        tokens = {name: inputs[name].values for name in settings}
        files = rocket_vocabularies.vocabularies(
            tokens, settings, {name: f"ours_{name}" for name in settings}
        )
        return {
            name: per_row(
                inputs[name], tft.apply_vocabulary(tokens[name], files[name], num_oov_buckets=1)
            )
            for name in settings
        }

    results = {}
    for label, fn in (("tft", with_tft), ("ours", with_one_pass)):
        out_dir = str(tmp_path_factory.mktemp(label))
        temp = str(tmp_path_factory.mktemp(f"{label}_tmp"))
        with tft_beam.Context(temp_dir=temp, force_tf_compat_v1=False):
            (data, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        results[label] = data, tft.TFTransformOutput(out_dir)
    (tft_data, tft_output), (our_data, our_output) = results["tft"], results["ours"]
    for name in settings:
        ours = our_output.vocabulary_by_name(f"ours_{name}")
        assert ours == tft_output.vocabulary_by_name(f"tft_{name}"), name
        assert our_output.vocabulary_size_by_name(f"ours_{name}") == len(ours)
    assert our_output.vocabulary_by_name("ours_a") == [b"x", b"y", b"v"]  # floor 2, ties
    assert our_output.vocabulary_by_name("ours_b") == [b"9", b"8", b"7"]  # top 3 of ties
    assert our_output.vocabulary_by_name("ours_d") == [rocket_vocabularies.EMPTY_VOCABULARY_ENTRY]
    for tft_row, our_row in zip(tft_data, our_data, strict=True):
        assert {k: np.asarray(v).tolist() for k, v in tft_row.items()} == {
            k: np.asarray(v).tolist() for k, v in our_row.items()
        }


def test_reading_the_ids_does_not_import_beam():
    """The model and its exports (what the Trainer's, the Evaluator's and the report's
    own imports reach) load without Beam: rocket_vocabularies, which needs it, is
    imported by preprocessing_fn only, where Transform runs (Beam's import is about 3 s
    of every new step process of a compiled pipeline)."""
    import subprocess
    import sys

    code = "import sys, rocket_model, rocket_export; print('apache_beam' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def _python_kept(tags: list[list[str]], max_items: int) -> list[list[str]]:
    """The reference: each row's values split on '|', empty items dropped, the first
    `max_items` kept."""
    rows = []
    for values in tags:
        items = [item for value in values for item in value.split("|") if item]
        rows.append(items[:max_items])
    return rows


def _sparse(rows: list[list[str]]):
    import tensorflow as tf

    indices = [[r, i] for r, values in enumerate(rows) for i in range(len(values))]
    values = [value for row in rows for value in row]
    width = max([len(row) for row in rows] + [1])
    return tf.SparseTensor(
        tf.constant(indices, tf.int64, shape=[len(indices), 2]),
        tf.constant(values, tf.string, shape=[len(values)]),
        [len(rows), width],
    )


def test_the_cap_and_the_lookup_count_match_a_plain_python_reference():
    """The graph ops that serving runs on every request (no Beam): which tag items get an
    id (non-empty, the row's first max_tag_items) and a lookup's count of the row's key
    among them, on random rows: empty values, runs of separators, rows past the cap,
    rows without a list or without a key."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    lookup = FeatureConfig("k_in_tags", kind=LOOKUP, input_names=("tags", "key"),
                           boundaries=tuple(float(b) for b in range(1, 40)))  # fmt: skip
    for trial in range(40):
        max_items = int(rng.integers(1, 6))
        tags, keys = [], []
        for _ in range(int(rng.integers(1, 30))):
            values = ["|".join(rng.choice(["", "a", "b", "c", "d"], rng.integers(0, 9)))
                      for _ in range(rng.integers(0, 3))]  # fmt: skip
            tags.append(values)
            keys.append([str(rng.choice(["a", "b", "x"]))] if rng.random() < 0.8 else [])
        expected = _python_kept(tags, max_items)
        tokens, rowids, keep = rocket_preprocessing._tag_items(_sparse(tags), "|", max_items)
        kept = [[] for _ in tags]
        for token, row in zip(tokens.numpy()[keep.numpy()], rowids.numpy()[keep.numpy()]):
            kept[row].append(token.decode())
        assert kept == expected, (trial, tags, max_items)
        counts = rocket_preprocessing.lookup_ids(_sparse(tags), _sparse(keys), lookup, max_items)
        want = [row.count(key[0]) if key else 0 for row, key in zip(expected, keys)]
        assert tf.sparse.to_dense(counts).numpy()[:, 0].tolist() == want, (trial, tags, keys)
