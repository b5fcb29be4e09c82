"""The batched evaluator against TFMA's own per-example evaluation: the same EvalConfig
(the pipeline's: three models, overall and per-pid slices, AUC with 10,000 thresholds,
plots, GAUC, the gate's thresholds) over the same real SavedModels and examples must give
the same metrics, plots and validation result."""

from __future__ import annotations

import math

import apache_beam as beam
import numpy as np
import pytest
import rocket_seed
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx_bsl.public import tfxio

from components.rocket_evaluator import BASELINE, BOOSTER, CANDIDATE
from components.rocket_evaluator.batched_evaluator import (
    BatchedMetricsEvaluator,
    batched_extractors,
)
from components.rocket_evaluator.batched_metrics import UnsupportedMetricError
from pipeline import tfx_pipeline

ROWS = 600


class _Scorer(tf.Module):
    """A real SavedModel with TFX's serving signature: serialized tf.Examples in,
    a click probability out (rounded to 0.01, so predictions tie)."""

    def __init__(self, weight: float, bias: float):
        super().__init__()
        self.weight, self.bias = tf.constant(weight), tf.constant(bias)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        parsed = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([1], tf.float32)})
        probability = tf.sigmoid(self.weight * parsed["x"][:, 0] + self.bias)
        return {"probabilities": tf.round(probability * 100) / 100}


def _example(rng: np.random.Generator, row: int) -> bytes:
    x = float(rng.normal())
    click = int(rng.random() < 1 / (1 + math.exp(-2 * x)))
    feature = {
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
        "clk": tf.train.Feature(int64_list=tf.train.Int64List(value=[click])),
        "pid": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"p%d" % (row % 3)])),
    }
    if row % 17:  # some impressions carry no user: they are in no user's AUC
        user = b"u%d" % rng.integers(0, 40)
        feature["user_id"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[user]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("batched")
    rng = np.random.default_rng(3)
    data = str(root / "eval.tfrecord")
    with tf.io.TFRecordWriter(data) as writer:
        for row in range(ROWS):
            writer.write(_example(rng, row))
    paths = {}
    for name, weight, bias in ((CANDIDATE, 1.5, -0.2), (BASELINE, 0.7, 0.1), (BOOSTER, 2.0, 0.0)):
        module = _Scorer(weight, bias)
        paths[name] = str(root / name)
        tf.saved_model.save(module, paths[name], signatures={"serving_default": module.serve})
    config = tfx_pipeline.eval_config(
        rocket_seed.default_config(), min_auc=0.6, max_auc_drop=0.01, min_class_examples=20
    )
    config = tfma.utils.update_eval_config_with_defaults(config, has_baseline=True)
    return root, data, paths, config


def _evaluate(setup, output: str, batched: bool) -> str:
    _, data, paths, config = setup
    models = [
        tfma.default_eval_shared_model(
            eval_saved_model_path=paths[spec.name], model_name=spec.name, eval_config=config
        )
        for spec in config.model_specs
    ]
    options = {}
    if batched:
        options = {
            "extractors": batched_extractors(config, models),
            "evaluators": [BatchedMetricsEvaluator(config)],
        }
    source = tfxio.TFExampleRecord(
        file_pattern=data, raw_record_column_name=tfma.ARROW_INPUT_COLUMN
    )
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | source.BeamSource(batch_size=64)  # several batches, each with every slice
            | tfma.ExtractEvaluateAndWriteResults(
                eval_shared_model=models, eval_config=config, output_path=output, **options
            )
        )
    return output


def _flatten(value, prefix: str, out: dict) -> dict:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}/{key}", out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}[{index}]", out)
    else:
        out[prefix] = value
    return out


def _results(path: str) -> dict:
    """Every number of the evaluation, by slice, metric (or plot) and model."""
    out: dict = {}
    for kind, records in (("metrics", tfma.load_metrics(path)), ("plots", tfma.load_plots(path))):
        for record in records:
            for entry in json_format.MessageToDict(record).get("metricKeysAndValues", []) or (
                json_format.MessageToDict(record).get("plotKeysAndValues", [])
            ):
                key = json_format.MessageToJson(record.slice_key) + str(entry["key"])
                _flatten(entry["value"], f"{kind}{key}", out)
    validation = json_format.MessageToDict(tfma.load_validation_result(path))
    validation.pop("validationDetails", None)  # counts of examples TFMA saw per slice
    return _flatten(validation, "validation", out)


def test_batched_evaluation_equals_tfmas_per_example_evaluation(setup, tmp_path):
    expected = _results(_evaluate(setup, str(tmp_path / "tfma"), batched=False))
    actual = _results(_evaluate(setup, str(tmp_path / "batched"), batched=True))
    assert sorted(actual) == sorted(expected)
    names = " ".join(expected)
    for name in ("auc", "gauc", "binary_crossentropy", "calibration", "eval_positives"):
        assert f'"{name}"' in names.replace("'", '"')
    assert "calibrationHistogramBuckets" in names and "confusionMatrixAtThresholds" in names
    assert "pid" in names  # the per-pid slices are there too
    different = {}
    for key, value in expected.items():
        # Keras metrics keep float32 state: summed in another order, they agree to float32
        # precision; everything else is float64 and agrees to rounding.
        rel, abs_ = (1e-6, 1e-6) if "binary_crossentropy" in key else (1e-9, 1e-12)
        if isinstance(value, float):
            same = actual[key] == pytest.approx(value, rel=rel, abs=abs_)
        else:
            same = actual[key] == value
        if not same:
            different[key] = (actual[key], value)
    assert not different, "\n".join(f"{k}: {v}" for k, v in sorted(different.items())[:20])


def test_a_metric_without_a_batched_form_is_refused_by_name(setup):
    _, _, _, config = setup
    changed = tfma.EvalConfig()
    changed.CopyFrom(config)
    changed.metrics_specs[0].metrics.add(class_name="MeanAbsoluteError")
    with pytest.raises(UnsupportedMetricError, match="mean_absolute_error"):
        BatchedMetricsEvaluator(changed)
    changed.CopyFrom(config)
    changed.options.compute_confidence_intervals.value = True
    with pytest.raises(UnsupportedMetricError, match="confidence intervals"):
        BatchedMetricsEvaluator(changed)
