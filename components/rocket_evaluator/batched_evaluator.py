"""A TFMA Evaluator (TFMA's extension point) that computes the EvalConfig's metrics on
batches: TFMA's extractors still read the eval split and run every model on batches;
this evaluator takes their batched extracts, splits each batch into its slices, fills the
batched twins of TFMA's combiners (batched_metrics) and hands the result to TFMA's own
derived-metric, diff, validation and writer stages. Only TFMA's per-example path
(unbatching, per-example slice keys and combiners) is left out; see batched_metrics for
why and for what is refused.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.evaluators import evaluator, metrics_validator
from tensorflow_model_analysis.evaluators import (
    metrics_plots_and_validations_evaluator as tfma_evaluator,
)
from tensorflow_model_analysis.extractors import (
    extractor,
    slice_key_extractor,
    unbatch_extractor,
)
from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.slicer import slicer_lib as slicer

from components.rocket_evaluator.batched_metrics import (
    BatchedComputationsCombineFn,
    SliceRows,
    UnsupportedMetricError,
    feature_keys,
)

STAGE_NAME = "EvaluateMetricsOnBatches"
_PER_EXAMPLE_STAGES = (
    unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME,
    slice_key_extractor.SLICE_KEY_EXTRACTOR_STAGE_NAME,
)


def batched_extractors(eval_config: tfma.EvalConfig, models) -> list:
    """TFMA's default extractors up to the models' predictions, without unbatching."""
    return [
        each
        for each in tfma.default_extractors(eval_config=eval_config, eval_shared_model=models)
        if each.stage_name not in _PER_EXAMPLE_STAGES
    ]


def BatchedMetricsEvaluator(eval_config: tfma.EvalConfig) -> evaluator.Evaluator:  # noqa: N802 (TFMA's naming)
    """The Evaluator for tfma.ExtractEvaluateAndWriteResults(evaluators=[...]). Raises
    UnsupportedMetricError at once (before any data is read) for what it cannot compute."""
    _refuse_unsupported(eval_config)
    computations = tfma_evaluator._filter_and_separate_computations(
        metric_specs.to_computations(eval_config.metrics_specs, eval_config=eval_config)
    )
    keys = feature_keys(computations.non_derived_computations)  # raises if unsupported
    return evaluator.Evaluator(
        stage_name=STAGE_NAME,
        run_after=extractor.LAST_EXTRACTOR_STAGE_NAME,
        ptransform=_EvaluateOnBatches(eval_config, computations, keys),
    )


def _refuse_unsupported(eval_config: tfma.EvalConfig) -> None:
    options = eval_config.options
    problems = {
        "confidence intervals": options.compute_confidence_intervals.value,
        "min_slice_size": options.min_slice_size.value > 1,
        "query_key grouping": any(spec.query_key for spec in eval_config.metrics_specs),
        "SQL slices": any(spec.slice_keys_sql for spec in eval_config.slicing_specs),
        "models other than tf_generic": any(
            spec.model_type not in ("", constants.TF_GENERIC) for spec in eval_config.model_specs
        ),
    }
    found = [name for name, present in problems.items() if present]
    if found:
        raise UnsupportedMetricError(
            f"the batched evaluator does not support {', '.join(found)} in the EvalConfig"
        )


@beam.ptransform_fn
def _EvaluateOnBatches(extracts, eval_config: tfma.EvalConfig, computations, keys):  # noqa: N802
    combined = computations.non_derived_computations
    baseline = tfma.utils.get_baseline_model_spec(eval_config)
    sliced = (
        extracts
        | "SliceBatches" >> beam.ParDo(_SliceBatch(eval_config, keys))
        | "CombinePerSlice" >> beam.CombinePerKey(BatchedComputationsCombineFn(combined))
        # TFMA's own stages from here: derived metrics, cross slices, diffs, validation.
        | "AddDerivedCrossSliceAndDiffMetrics"
        >> tfma_evaluator._AddDerivedCrossSliceAndDiffMetrics(
            computations.derived_computations,
            computations.cross_slice_computations,
            list(eval_config.cross_slicing_specs),
            baseline.name if baseline else None,
        )
        | "RemovePrivateMetrics" >> beam.MapTuple(tfma_evaluator._remove_private_metrics)
    )
    metrics = sliced | "FilterByMetrics" >> beam.Map(
        tfma_evaluator._filter_by_key_type, metric_types.MetricKey
    )
    plots = sliced | "FilterByPlots" >> beam.Map(
        tfma_evaluator._filter_by_key_type, metric_types.PlotKey
    )
    validations = metrics | "ValidateMetrics" >> beam.Map(
        metrics_validator.validate_metrics, eval_config
    )
    return {
        constants.METRICS_KEY: metrics,
        constants.PLOTS_KEY: plots,
        constants.VALIDATIONS_KEY: validations,
    }


class _SliceBatch(beam.DoFn):
    """Batched extracts -> (slice key, SliceRows) per slice present in the batch.

    Slice keys come from TFMA's own slicer on each distinct combination of the slicing
    columns' values in the batch (so they equal the per-example path's), and a row is in
    each of its slices once, as TFMA's SliceKeyExtractor deduplicates."""

    def __init__(self, eval_config: tfma.EvalConfig, feature_keys: tuple[str, ...]):
        self._eval_config = eval_config
        self._feature_keys = feature_keys
        self._specs = [slicer.SingleSliceSpec(spec=spec) for spec in eval_config.slicing_specs]
        self._columns = sorted(
            {column for spec in eval_config.slicing_specs for column in spec.feature_keys}
            | {key for spec in eval_config.slicing_specs for key in spec.feature_values}
        )

    def process(self, extracts):
        transformed = extracts.get(constants.TRANSFORMED_FEATURES_KEY)
        if transformed and any(transformed.values()):
            raise UnsupportedMetricError("slicing on transformed features is not supported")
        features = extracts[constants.FEATURES_KEY]
        rows = _columns(extracts, self._eval_config, features, self._feature_keys)
        for slice_key, indices in self._slices(features, rows.size).items():
            yield slice_key, rows if indices is None else rows.take(np.asarray(indices))

    def _slices(self, features: dict, size: int) -> dict:
        per_row = [_row_values(features, column, size) for column in self._columns]
        members: dict = {}
        cache: dict = {}
        for row in range(size):
            values = tuple(tuple(column[row]) for column in per_row)
            keys = cache.get(values)
            if keys is None:
                row_features = {c: np.asarray(v) for c, v in zip(self._columns, values) if v}
                keys = cache[values] = set(
                    slicer.get_slices_for_features_dicts([], row_features, self._specs)
                )
            for key in keys:
                members.setdefault(key, []).append(row)
        # The overall slice holds every row: no copy.
        return {key: None if len(rows) == size else rows for key, rows in members.items()}


def _row_values(features: dict, column: str, size: int) -> list:
    """Each row's values of one feature: a dense [rows, k] array or a VarLenTensorValue."""
    value = features.get(column)
    if value is None:
        return [()] * size
    if isinstance(value, np.ndarray):
        return [np.atleast_1d(row) for row in value.reshape(size, -1)]
    if isinstance(value, tfma.types.VarLenTensorValue):
        out = [[] for _ in range(size)]
        for (row, _), item in zip(value.indices, value.values):
            out[row].append(item)
        return [np.asarray(items, dtype=value.values.dtype) for items in out]
    raise UnsupportedMetricError(
        f"feature {column!r} is a {type(value).__name__}; slices and GAUC read dense or "
        "variable-length features"
    )


def _columns(extracts, eval_config, features: dict, keys: tuple[str, ...]) -> SliceRows:
    """Labels, predictions and weights per model as flat float arrays, plus the first
    value of each feature the combiners read."""
    specs = eval_config.model_specs
    labels, predictions, weights = {}, {}, {}
    for spec in specs:

        def of(extract_key, spec=spec):
            value = extracts.get(extract_key)
            return value.get(spec.name) if len(specs) > 1 and value is not None else value

        prediction = of(constants.PREDICTIONS_KEY)
        if isinstance(prediction, dict):
            prediction = prediction[spec.prediction_key]
        labels[spec.name] = _flat(of(constants.LABELS_KEY), f"{spec.name}'s labels")
        predictions[spec.name] = _flat(prediction, f"{spec.name}'s predictions")
        weight = of(constants.EXAMPLE_WEIGHTS_KEY)
        weights[spec.name] = None if weight is None else _flat(weight, "example weights")
    size = next(iter(labels.values())).size
    firsts = {}
    for key in keys:
        values = _row_values(features, key, size)
        firsts[key] = np.array([v[0] if len(v) else None for v in values], dtype=object)
    return SliceRows(labels, predictions, weights, firsts)


def _flat(value, what: str) -> np.ndarray:
    """One float per example; a model with several outputs per example is refused."""
    if value is None:
        raise UnsupportedMetricError(f"no {what} in TFMA's extracts")
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 and array.shape[1] != 1:
        raise UnsupportedMetricError(
            f"{what} have {array.shape[1]} values per example; the batched evaluator "
            "computes binary metrics (one label and one probability per example)"
        )
    return array.reshape(-1)
