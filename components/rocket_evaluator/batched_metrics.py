"""TFMA's metric accumulators, filled from whole batches with numpy.

Why not TFMA's own combiners: TFMA 0.47 unbatches the eval split and feeds every example,
for every model and slice, to every combiner in Python. At 300,000 rows (60,156 eval
rows, three models) that took 54 s with ExampleCount alone and 163 s with our metrics,
against a Trainer of 64 s (issue #15). Here each combiner TFMA builds for the EvalConfig
gets a batched twin that adds a slice's rows of one batch at once and hands TFMA back the
very output its combiner would (the same keys and value types), so TFMA's derived metrics
(AUC, confusion matrices, plots, calibration), diffs against the baseline, validation and
writers run unchanged on it. The twins read a few settings of TFMA's combiners (pinned
TFMA 0.47.1); tests/test_batched_evaluator.py compares every metric with TFMA's own run.
A combiner without a twin is refused with its metric's name, never skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import rocket_metrics
from tensorflow_model_analysis.metrics import (
    calibration,
    calibration_histogram,
    example_count,
    metric_types,
    tf_metric_wrapper,
)


@dataclass
class SliceRows:
    """One slice's rows of one batch: per model name, the labels, predictions and example
    weights (None: unweighted) as flat float arrays; per feature the combiners read (the
    GAUC user column), one value per row (None where the row has none)."""

    labels: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]
    weights: dict[str, np.ndarray | None]
    features: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return next(iter(self.labels.values())).size

    def take(self, rows: np.ndarray) -> SliceRows:
        def pick(arrays: dict) -> dict:
            return {k: None if v is None else v[rows] for k, v in arrays.items()}

        return SliceRows(
            pick(self.labels), pick(self.predictions), pick(self.weights), pick(self.features)
        )


class UnsupportedMetricError(ValueError):
    """The EvalConfig asks for a metric (or a setting) that has no batched form."""


class _Twin:
    """Batched form of one TFMA MetricComputation's combiner."""

    feature_keys: tuple[str, ...] = ()

    def __init__(self, computation: metric_types.MetricComputation):
        self.combiner = computation.combiner
        self.keys = computation.keys

    def refuse_if(self, condition, what: str) -> None:
        if condition:
            names = sorted({key.name for key in self.keys})
            raise UnsupportedMetricError(
                f"metric {names} uses {what}, which the batched evaluator does not compute; "
                "remove it from the EvalConfig"
            )

    def refuse_class_settings(self) -> None:
        """The per-class and sub-key settings TFMA's binary combiners take; not batched."""
        self.refuse_if(self.combiner._aggregation_type or self.combiner._class_weights,
                       "class aggregation")  # fmt: skip
        self.refuse_if(self.combiner._key.sub_key, "a sub key")

    def model_rows(self, rows: SliceRows, model_name: str, weighted: bool):
        """(labels, predictions, weights) of one model; weights are ones unless weighted."""
        labels, predictions = rows.labels[model_name], rows.predictions[model_name]
        weights = rows.weights.get(model_name) if weighted else None
        return labels, predictions, np.ones(labels.size) if weights is None else weights

    def setup(self) -> None:
        pass


class _Histogram(_Twin):
    """calibration_histogram: TFMA's bucketed labels/predictions/weights (10,000 buckets
    for AUC), from which its AUC, confusion matrices and both plots derive."""

    def __init__(self, computation):
        super().__init__(computation)
        c = self.combiner
        self.key = c._key
        self.refuse_class_settings()
        self.refuse_if(not c._prediction_based_bucketing, "label-based bucketing")
        self.num_buckets, self.left, self.range = c._num_buckets, c._left, c._range

    def create(self) -> np.ndarray:  # rows: labels, predictions, weights, inputs
        return np.zeros((4, self.num_buckets + 2))

    def add(self, accumulator: np.ndarray, rows: SliceRows) -> np.ndarray:
        labels, predictions, weights = self.model_rows(
            rows, self.key.model_name, self.combiner._example_weighted
        )
        if self.combiner._fractional_labels and ((labels < 0) | (labels > 1)).any():
            raise ValueError("fractional labels must lie in [0, 1]")
        if np.isnan(predictions).any():
            raise ValueError(f"model {self.key.model_name!r} predicted NaN on the eval split")
        # TFMA's _bucket_index: ((p - left) / range * buckets) + 1, truncated, clamped.
        index = (predictions - self.left) / self.range * self.num_buckets + 1
        index = np.clip(index, 0, self.num_buckets + 1).astype(np.int64)
        # TFMA skips zero-weight inputs when it splits fractional labels; a bucket exists
        # once it received an input.
        inputs = weights != 0 if self.combiner._fractional_labels else np.ones(index.size)
        length = self.num_buckets + 2
        for row, values in enumerate((labels * weights, predictions * weights, weights, inputs)):
            accumulator[row] += np.bincount(index, weights=values, minlength=length)
        return accumulator

    def extract(self, accumulator: np.ndarray) -> dict:
        return {
            self.key: [
                calibration_histogram.Bucket(int(i), *(float(v) for v in accumulator[:3, i]))
                for i in np.flatnonzero(accumulator[3])
            ]
        }


class _Totals(_Twin):
    """calibration's weighted label/prediction/example totals (MeanLabel, MeanPrediction,
    Calibration and the gate's evidence counts)."""

    def __init__(self, computation):
        super().__init__(computation)
        self.key = self.combiner._key
        self.refuse_class_settings()

    def create(self) -> np.ndarray:
        return np.zeros(3)

    def add(self, accumulator: np.ndarray, rows: SliceRows) -> np.ndarray:
        labels, predictions, weights = self.model_rows(
            rows, self.key.model_name, self.combiner._example_weighted
        )
        accumulator += [(labels * weights).sum(), (predictions * weights).sum(), weights.sum()]
        return accumulator

    def extract(self, accumulator: np.ndarray) -> dict:
        totals = calibration._WeightedLabelsPredictionsExamples()
        totals.total_weighted_labels = float(accumulator[0])
        totals.total_weighted_predictions = float(accumulator[1])
        totals.total_weighted_examples = float(accumulator[2])
        return {self.key: totals}


class _ExampleCount(_Twin):
    """example_count: examples in the slice (weights summed when weighted)."""

    def create(self) -> float:
        return 0.0

    def add(self, accumulator: float, rows: SliceRows) -> float:
        c = self.combiner
        weights = rows.weights.get(c._model_name) if c._example_weighted else None
        return accumulator + (rows.size if weights is None else float(weights.sum()))

    def extract(self, accumulator: float) -> dict:
        return {key: accumulator for key in self.combiner._keys}


class _KerasMetrics(_Twin):
    """tf_metric_wrapper (Keras metrics such as BinaryCrossentropy): TFMA feeds them
    batches too; here a slice's rows of a batch are one update_state, and the metrics'
    weights add up across batches as in TFMA's accumulator."""

    def __init__(self, computation):
        super().__init__(computation)
        c = self.combiner
        self.refuse_if(c._output_names != [""], "model outputs")
        self.refuse_if(c._sub_key or c._aggregation_type or c._class_weights, "a sub key")

    def setup(self) -> None:
        self.combiner.setup()
        self.metrics = self.combiner._metrics[""]

    def create(self) -> list:
        return [None] * len(self.metrics)

    def add(self, accumulator: list, rows: SliceRows) -> list:
        labels, predictions, weights = self.model_rows(
            rows, self.combiner._model_name, self.combiner._example_weighted
        )
        for index, metric in enumerate(self.metrics):
            metric.reset_states()
            metric.update_state(labels[:, None], predictions[:, None], weights[:, None])
            accumulator[index] = _add_weights(accumulator[index], metric.get_weights())
        return accumulator

    def merge(self, accumulators: list[list]) -> list:
        merged = accumulators[0]
        for accumulator in accumulators[1:]:
            merged = [_add_weights(a, b) for a, b in zip(merged, accumulator)]
        return merged

    def extract(self, accumulator: list) -> dict:
        result = {}
        for weights, metric in zip(accumulator, self.metrics):
            metric.reset_states()
            if weights is not None:
                metric.set_weights(weights)
            key = metric_types.MetricKey(
                name=metric.name,
                model_name=self.combiner._model_name,
                example_weighted=self.combiner._example_weighted,
            )
            result[key] = metric.result().numpy()
        return result


def _add_weights(total: list | None, weights: list | None) -> list | None:
    if total is None or weights is None:
        return weights if total is None else total
    return [a + b for a, b in zip(total, weights)]


class _GAUC(_Twin):
    """rocket_metrics' GAUC: keeps user, label and prediction of every row (per-user AUCs
    need them all) and computes the per-user AUCs once, vectorised."""

    def __init__(self, computation):
        super().__init__(computation)
        self.key = self.combiner._key
        self.user_key = self.combiner._user_key
        self.feature_keys = (self.user_key,)

    def create(self) -> list:
        return []

    def add(self, accumulator: list, rows: SliceRows) -> list:
        users = rows.features[self.user_key]
        known = np.array([user is not None for user in users], dtype=bool)
        model = self.key.model_name
        labels, predictions = rows.labels[model], rows.predictions[model]
        accumulator.append((users[known], labels[known], predictions[known]))
        return accumulator

    def merge(self, accumulators: list[list]) -> list:
        return [part for accumulator in accumulators for part in accumulator]

    def extract(self, accumulator: list) -> dict:
        if not accumulator:
            return {self.key: float("nan")}
        users, labels, predictions = (np.concatenate(column) for column in zip(*accumulator))
        return {self.key: rocket_metrics.gauc(users, labels, predictions)}


TWINS: dict[type, type[_Twin]] = {
    calibration_histogram._CalibrationHistogramCombiner: _Histogram,
    calibration._WeightedLabelsPredictionsExamplesCombiner: _Totals,
    example_count._ExampleCountCombiner: _ExampleCount,
    tf_metric_wrapper._CompilableMetricsCombiner: _KerasMetrics,
    rocket_metrics._GAUCCombiner: _GAUC,
}


def twin(computation: metric_types.MetricComputation) -> _Twin:
    kind = TWINS.get(type(computation.combiner))
    if kind is None:
        names = sorted({key.name for key in computation.keys})
        raise UnsupportedMetricError(
            f"metric {names} (TFMA combiner {type(computation.combiner).__name__}) has no "
            "batched form in the RocketEvaluator; supported: ExampleCount, AUC and the "
            "other confusion-matrix metrics, ConfusionMatrixPlot, CalibrationPlot, "
            "Calibration, MeanLabel, MeanPrediction, Keras metrics, GAUC, EvalPositives, "
            "EvalNegatives"
        )
    return kind(computation)


class BatchedComputationsCombineFn(beam.CombineFn):
    """All non-derived computations of the EvalConfig for one slice: inputs are SliceRows,
    the output the dict of metric keys to values TFMA's own combiners would give."""

    def __init__(self, computations: list[metric_types.MetricComputation]):
        self._computations = computations
        self._twins: list[_Twin] | None = None

    def setup(self) -> None:
        if self._twins is None:
            self._twins = [twin(computation) for computation in self._computations]
            for each in self._twins:
                each.setup()

    def create_accumulator(self) -> list:
        self.setup()
        return [each.create() for each in self._twins]

    def add_input(self, accumulator: list, rows: SliceRows) -> list:
        return [each.add(a, rows) for each, a in zip(self._twins, accumulator)]

    def merge_accumulators(self, accumulators: Iterable[list]) -> list:
        self.setup()
        columns = list(zip(*accumulators))
        return [_merge(each, list(column)) for each, column in zip(self._twins, columns)]

    def extract_output(self, accumulator: list) -> dict:
        self.setup()
        result = {}
        for each, a in zip(self._twins, accumulator):
            result.update(each.extract(a))
        return result


def _merge(each: _Twin, accumulators: list):
    if hasattr(each, "merge"):
        return each.merge(accumulators)
    return sum(accumulators[1:], accumulators[0])


def feature_keys(computations: list[metric_types.MetricComputation]) -> tuple[str, ...]:
    """The features the batched combiners read (the GAUC user column)."""
    keys = {key for computation in computations for key in twin(computation).feature_keys}
    return tuple(sorted(keys))
