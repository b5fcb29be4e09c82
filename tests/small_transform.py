"""A small Transform output written as TFX's Transform writes it, for tests that run the
Trainer's or the Tuner's code on TFX's own data accessor (test_multiworker, test_tuning)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import rocket_config
import rocket_preprocessing
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from rocket_config import BUCKET, ID, TAG, FeatureConfig, FeatureGroup, InputField
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

CONFIG = rocket_config.RocketConfig(
    input_fields=(
        InputField("clk", "int"),
        InputField("user_id"),
        InputField("ad_id"),
        InputField("tags"),
        InputField("price", "int"),
    ),
    label_field="clk",
    features=(
        FeatureConfig("user_id", kind=ID, frequency_threshold=1, num_oov_buckets=2),
        FeatureConfig("ad_id", kind=ID, hash_bucket_size=64),  # hashing, as EasyRec
        FeatureConfig("tags", kind=TAG, frequency_threshold=1),
        FeatureConfig("price", kind=BUCKET, num_buckets=50),
    ),
    model=rocket_config.ModelConfig(
        feature_groups=(FeatureGroup("all", ("user_id", "ad_id", "tags", "price")),),
        share_dnn=rocket_config.DNNConfig((16,)),
        booster_dnn=rocket_config.DNNConfig((16, 8)),
        light_dnn=rocket_config.DNNConfig((8,)),
        # Set, not chosen from the few rows (rocket_config.for_train_rows).
        embedding_regularization=5e-6,
    ),
    # The linear baseline regularised apart from the nets, as on small logs.
    train=rocket_config.TrainConfig(
        batch_size=64, eval_batch_size=128, train_steps=20, linear_embedding_regularization=5e-4
    ),
).validate()

RAW_SPEC = rocket_preprocessing.raw_feature_spec(CONFIG)  # every column VarLen


def raw_rows(count: int, seed: int) -> list[dict]:
    """Rows whose click depends on user and ad jointly, so training has a signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        user, ad = int(rng.integers(0, 40)), int(rng.integers(0, 30))
        tags = "|".join(f"c{int(t)}" for t in rng.integers(0, 20, int(rng.integers(0, 4))))
        rows.append(
            {
                "clk": [int((user + ad) % 3 == 0)],
                "user_id": [f"u{user}"],
                "ad_id": [f"a{ad}"],
                "tags": [tags] if tags else [],
                "price": [int(rng.integers(0, 50))],
            }
        )
    return rows


def write_gzip_records(path: Path, records: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)


def write_transformed(work: Path) -> Path:
    """Transform output as TFX's Transform writes it under `work`: transform_fn/ (the
    transform graph's folder), gzipped transformed tf.Examples in transformed/Split-train
    (two files: file sharding) and transformed/Split-eval (one: element sharding), and
    config.json (CONFIG)."""
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    fn = functools.partial(
        rocket_preprocessing.preprocessing_fn,
        custom_config={rocket_preprocessing.CONFIG_KEY: CONFIG.to_json()},
    )
    train_raw, eval_raw = raw_rows(2000, seed=1), raw_rows(500, seed=2)
    with tft_beam.Context(temp_dir=str(work / "tmp"), force_tf_compat_v1=False):
        (train, _), transform_fn = (train_raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        evaluation, _ = ((eval_raw, metadata), transform_fn) | tft_beam.TransformDataset()
        _ = transform_fn | tft_beam.WriteTransformFn(str(work / "transform_fn"))
    # The raw schema, as TFX's Transform writes it: the serving signature parses by it.
    metadata_io.write_metadata(
        metadata, str(work / "transform_fn" / tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    output = tft.TFTransformOutput(str(work / "transform_fn"))
    coder = tft.coders.ExampleProtoCoder(output.transformed_metadata.schema)
    encoded = [coder.encode(row) for row in train]
    half = len(encoded) // 2
    split_dir = work / "transformed"
    write_gzip_records(split_dir / "Split-train" / "data-00000-of-00002.gz", encoded[:half])
    write_gzip_records(split_dir / "Split-train" / "data-00001-of-00002.gz", encoded[half:])
    write_gzip_records(
        split_dir / "Split-eval" / "data-00000-of-00001.gz", [coder.encode(r) for r in evaluation]
    )
    (work / "config.json").write_text(CONFIG.to_json())
    return work
