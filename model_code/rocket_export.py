"""SavedModels that serve raw tf.Examples: the light net (Format-Serving) and the booster.

A `ServingModule` holds the TFT layer and one NetPath (its BatchNorms folded into
the Dense layers), or one net's NetPath blended with the linear baseline's
(rocket_blend.BlendedPath), so the light export has no booster variable in it. `serving_default`
takes serialized tf.Examples without a label and returns the click probability; a
missing feature is an empty id list (zero embedding) and an unseen id falls into an OOV
bucket, so neither is rejected. A string value longer than the configuration's
max_field_bytes is (InvalidArgument, naming the feature), as ExampleGen rejects such a
row in training: one input contract. Tag lists are capped inside the TFT graph itself.

Each export also carries `assets.extra/tf_serving_warmup_requests`, which TF Serving
replays at load time so the first real request does not pay for graph warm-up.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection

import rocket_blend
import rocket_config
import rocket_model
import tensorflow as tf
import tensorflow_transform as tft

SIGNATURE_INPUT = "examples"
PROBABILITIES = "probabilities"
LOGITS = "logits"
METRICS_FILE = "metrics.json"  # in model_run: the Trainer's eval metrics
BOOSTER_DIR = "booster"  # in model_run: the booster SavedModel
LINEAR_DIR = "linear_baseline"  # in model_run: the linear baseline's, when trained


def serving_feature_spec(
    raw_spec: dict, label_field: str, used: Collection[str] | None = None
) -> dict:
    """The raw spec without the label and, given `used`, without the columns the net does
    not read (parsing them was ~10% of the serving time; an example may still carry them).
    A FixedLen feature (a schema with inferred shapes) gets a default, so an example
    missing it is served rather than rejected: '' or -1, values the vocabularies map to an
    OOV bucket."""
    spec = {}
    for name, feature in raw_spec.items():
        if name == label_field or (used is not None and name not in used):
            continue
        if isinstance(feature, tf.io.FixedLenFeature) and feature.default_value is None:
            fill = b"" if feature.dtype == tf.string else -1
            shape = list(feature.shape)
            size = 1
            for dim in shape:
                size *= dim
            feature = tf.io.FixedLenFeature(shape, feature.dtype, default_value=[fill] * size)
        spec[name] = feature
    return spec


class ServingModule(tf.Module):
    def __init__(
        self,
        path: rocket_model.NetPath | rocket_blend.BlendedPath,
        tft_output: tft.TFTransformOutput,
        label_field: str,
        max_field_bytes: int = rocket_config.DEFAULT_MAX_FIELD_BYTES,
    ):
        super().__init__(name=f"{path.name}_serving")
        # BatchNorms folded into the Dense kernels: fewer ops per served batch.
        self.path = path.folded()
        self.tft_layer = tft_output.transform_features_layer()
        # The preprocessing_fn reads exactly the model features' columns (and the label).
        self.raw_spec = serving_feature_spec(
            tft_output.raw_feature_spec(), label_field, used=path.input_columns
        )
        self.max_field_bytes = max_field_bytes

    # autograph=False: the path has no data-dependent Python control flow, and converting
    # it only slows the export's tracing down.
    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=SIGNATURE_INPUT)],
        autograph=False,
    )
    def serve(self, examples: tf.Tensor) -> dict:
        raw = self._within_limits(tf.io.parse_example(examples, self.raw_spec))
        transformed = self.tft_layer(raw)
        logits = self.path.logits(transformed)
        probabilities = rocket_model.probabilities_from_logits(logits, self.path.num_class)
        return {PROBABILITIES: probabilities, LOGITS: logits}

    def _within_limits(self, raw: dict) -> dict:
        """`raw`, once no string value is over max_field_bytes: the check runs before the
        TFT layer would split a huge tag list into millions of tokens."""
        checks = []
        for name in sorted(raw):
            if self.raw_spec[name].dtype != tf.string:
                continue
            values = raw[name].values if isinstance(raw[name], tf.SparseTensor) else raw[name]
            longest = tf.reduce_max(tf.strings.length(values))  # bytes; INT_MIN if none
            checks.append(
                tf.debugging.assert_less_equal(
                    longest,
                    self.max_field_bytes,
                    message=f"feature {name}: a value is longer than max_field_bytes "
                    f"{self.max_field_bytes}",
                )
            )
        with tf.control_dependencies(checks):
            return {name: tf.identity(value) for name, value in raw.items()}


def warmup_examples(raw_spec: dict) -> list[bytes]:
    """Synthetic examples that touch every feature: typical values, then an empty one."""
    full = tf.train.Example()
    for name, feature in raw_spec.items():
        target = full.features.feature[name]
        if feature.dtype == tf.string:
            target.bytes_list.value.append(b"warmup|warmup")
        elif feature.dtype == tf.int64:
            target.int64_list.value.append(0)
        else:
            target.float_list.value.append(0.0)
    return [full.SerializeToString(), tf.train.Example().SerializeToString()]


def write_warmup_requests(export_dir: str, raw_spec: dict, batch_sizes=(1, 32)) -> str:
    """assets.extra/tf_serving_warmup_requests: PredictionLogs TF Serving replays on load."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    directory = f"{export_dir}/assets.extra"
    tf.io.gfile.makedirs(directory)
    path = f"{directory}/tf_serving_warmup_requests"
    examples = warmup_examples(raw_spec)
    with tf.io.TFRecordWriter(path) as writer:
        for size in batch_sizes:
            batch = [examples[i % len(examples)] for i in range(size)]
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name="serving_default")
            )
            request.inputs[SIGNATURE_INPUT].CopyFrom(tf.make_tensor_proto(batch, tf.string))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def _without_keras_traces():
    """What Keras' own `Model.save(save_traces=False)` sets, around saving a tf.Module.
    The module holds a Keras layer (the TFT layer), whose call functions Keras would
    otherwise trace and save so that the layer could be loaded back as a Keras layer:
    nothing does that (TF Serving and TFMA call the signature), and the tracing was
    about 5 s of the two exports on the default run. tf_keras has no public switch for
    a tf.Module; its option scope is imported from the pinned tf_keras 2.16, and without
    it the export still works, with the traces."""
    try:
        from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope
    except ImportError:  # another tf_keras layout: save with the traces
        return contextlib.nullcontext()
    return keras_option_scope(save_traces=False, in_tf_saved_model_scope=False)


def export_net(
    path: rocket_model.NetPath | rocket_blend.BlendedPath,
    tft_output: tft.TFTransformOutput,
    label_field: str,
    export_dir: str,
    max_field_bytes: int = rocket_config.DEFAULT_MAX_FIELD_BYTES,
) -> None:
    """SavedModel of one net at `export_dir`, with its TF Serving warm-up requests."""
    module = ServingModule(path, tft_output, label_field, max_field_bytes)
    # The tf.function itself (it has an input signature), not a concrete function: a
    # concrete function that reads distributed variables (multi-worker training) cannot
    # be saved. On one machine both give the same signature.
    with _without_keras_traces():
        tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    write_warmup_requests(export_dir, module.raw_spec)


def export_pair(
    model: rocket_model.RocketLaunchingModel,
    tft_output: tft.TFTransformOutput,
    config: rocket_config.RocketConfig,
    metrics: dict,
    train_steps: int,
    serving_model_dir: str,
    model_run_dir: str,
    linear: rocket_model.RocketLaunchingModel | None = None,
    light_weight: float | None = None,
) -> None:
    """The light net to `serving_model_dir` (what the Pusher pushes), the booster to
    `model_run_dir/booster`, the linear baseline (when given) to
    `model_run_dir/linear_baseline` and the Trainer's eval metrics to
    `model_run_dir/metrics.json`. The Evaluator measures the booster and the linear
    baseline beside the light net; neither is pushed. With a `light_weight` below 1,
    the light and booster SavedModels serve their net blended with the linear baseline
    (rocket_blend.BlendedPath)."""
    label = config.label_field
    limit = config.max_field_bytes
    linear_path = (
        linear.net_path(rocket_model.served_net(linear.rocket)) if linear is not None else None
    )

    def served(net: str):
        return rocket_blend.served_path(model.net_path(net), linear_path, light_weight)

    export_net(served(rocket_model.LIGHT), tft_output, label, serving_model_dir, limit)
    booster_dir = os.path.join(model_run_dir, BOOSTER_DIR)
    export_net(served(rocket_model.BOOSTER), tft_output, label, booster_dir, limit)
    if linear_path is not None:
        linear_dir = os.path.join(model_run_dir, LINEAR_DIR)
        export_net(linear_path, tft_output, label, linear_dir, limit)
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, METRICS_FILE), "w") as handle:
        handle.write(json.dumps({**metrics, "train_steps": train_steps}, indent=2))
