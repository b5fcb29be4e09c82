"""GAUC as a TFMA metric: AUC per user, averaged with each user's impressions as weight.

This is the paper's CTR metric. Users whose impressions are all clicks or all non-clicks
have no AUC and are skipped (they weigh nothing); impressions without a user id too.
The combiner groups by user itself: give the user column as the metric's `user_key`
(`MetricConfig(class_name="GAUC", config='{"user_key": "user_id"}')`). TFMA's own
grouping (`query_key` on the MetricsSpec) shuffles every example's whole extracts
through a GroupByKey; on 60,000 eval rows that was 138 of an Evaluator's 193 seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import calibration, metric_types

GAUC_NAME = "gauc"


def user_aucs(
    users: np.ndarray, labels: np.ndarray, predictions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's AUC (Mann-Whitney U, ties count one half) and impression count, for the
    users who have both clicks and non-clicks; on whole arrays, without a loop per user.

    Rows are sorted by user, then prediction; a row's rank within its user is averaged
    over the rows of that user with the same prediction (a tie group)."""
    users = np.asarray(users).reshape(-1)
    labels = np.asarray(labels, dtype=float).reshape(-1) > 0
    predictions = np.asarray(predictions, dtype=float).reshape(-1)
    if not users.size == labels.size == predictions.size:
        raise ValueError(
            f"GAUC needs one user, label and prediction per impression; got {users.size}, "
            f"{labels.size} and {predictions.size}"
        )
    if users.size == 0:
        return np.zeros(0), np.zeros(0)
    _, codes = np.unique(users, return_inverse=True)
    order = np.lexsort((predictions, codes))
    codes, labels, predictions = codes[order], labels[order], predictions[order]
    position = np.arange(codes.size)
    new_user = np.r_[True, codes[1:] != codes[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, position, 0))
    new_tie = new_user | np.r_[True, predictions[1:] != predictions[:-1]]
    tie = np.cumsum(new_tie) - 1
    tie_first = np.flatnonzero(new_tie)
    tie_last = np.r_[tie_first[1:], codes.size] - 1
    rank = (tie_first + tie_last)[tie] / 2 - user_start + 1
    counts = np.bincount(codes)
    positives = np.bincount(codes, weights=labels)
    negatives = counts - positives
    rank_sums = np.bincount(codes, weights=rank * labels)
    both = (positives > 0) & (negatives > 0)
    positives, negatives = positives[both], negatives[both]
    aucs = (rank_sums[both] - positives * (positives + 1) / 2) / (positives * negatives)
    return aucs, counts[both]


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """The standard error of an AUC measured on `positives` clicks and `negatives`
    non-clicks (Hanley and McNeil 1982, the exponential approximation): how far two
    checks on the same rows may differ by chance alone (the Trainer's validation checks),
    and how precisely an eval split knows a model's AUC (the run's verdict)."""
    if positives < 1 or negatives < 1:
        return float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, ties given the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    new_value = np.r_[True, ordered[1:] != ordered[:-1]]
    first = np.flatnonzero(new_value)
    last = np.r_[first[1:], ordered.size] - 1
    ranks = np.empty(values.size)
    ranks[order] = ((first + last) / 2 + 1)[np.cumsum(new_value) - 1]
    return ranks


def paired_auc_difference(
    labels: np.ndarray, first: np.ndarray, second: np.ndarray
) -> tuple[float, float]:
    """(AUC of `first` − AUC of `second`, its standard error) for two models' scores of
    the same rows, by DeLong, DeLong and Clarke-Pearson (1988), with the midrank form of
    Sun and Xu (2014). Two models of the same rows err on the same rows, so their AUCs
    differ by much less than either one's own error (auc_standard_error) suggests: on the
    default run's eval split the served model and the linear baseline differ by +0.003
    with a paired error of ±0.002 where each AUC alone is known to ±0.010. Hand-written:
    neither scikit-learn nor SciPy nor TFMA computes DeLong's covariance. NaN error
    without two rows of each class."""
    labels = np.asarray(labels).reshape(-1) > 0
    positives, negatives = int(labels.sum()), int((~labels).sum())
    components = []
    for scores in (first, second):
        scores = np.asarray(scores, dtype=float).reshape(-1)
        every = _midranks(scores)
        within_pos = _midranks(scores[labels])
        within_neg = _midranks(scores[~labels])
        # Each click's share of the non-clicks it outranks, and each non-click's share
        # of the clicks that outrank it: their means are the AUC.
        components.append(((every[labels] - within_pos) / negatives,
                           1 - (every[~labels] - within_neg) / positives))  # fmt: skip
    (pos_a, neg_a), (pos_b, neg_b) = components
    difference = float(pos_a.mean() - pos_b.mean())
    if positives < 2 or negatives < 2:
        return difference, float("nan")
    variance = np.var(pos_a - pos_b, ddof=1) / positives + np.var(neg_a - neg_b, ddof=1) / negatives
    return difference, math.sqrt(max(float(variance), 0.0))


def user_auc(labels: np.ndarray, predictions: np.ndarray) -> float | None:
    """AUC of one user's impressions (ties count one half); None without both classes."""
    labels = np.asarray(labels).reshape(-1)
    aucs, _ = user_aucs(np.zeros(labels.size), labels, predictions)
    return float(aucs[0]) if aucs.size else None


def gauc(users: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> float:
    """Impression-weighted mean of the per-user AUCs; NaN when no user has both classes."""
    aucs, counts = user_aucs(users, labels, predictions)
    return float((aucs * counts).sum() / counts.sum()) if counts.size else float("nan")


class GAUC(metric_types.Metric):
    """TFMA metric `gauc`; `user_key` names the user id column."""

    def __init__(self, name: str = GAUC_NAME, user_key: str = ""):
        super().__init__(_gauc_computations, name=name, user_key=user_key)


metric_types.register_metric(GAUC)


def _gauc_computations(
    name: str = GAUC_NAME,
    user_key: str = "",
    eval_config=None,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
    query_key: str = "",
) -> metric_types.MetricComputations:
    if query_key or not user_key:
        raise ValueError(
            "GAUC groups by user itself: set its config's user_key to the user column "
            "(and no query_key on its MetricsSpec)"
        )
    preprocessors = [metric_types.FeaturePreprocessor(feature_keys=[user_key])]
    return [
        metric_types.MetricComputation(
            keys=[key],
            preprocessors=preprocessors,
            combiner=_GAUCCombiner(key, eval_config, user_key),
        )
        for key in _keys(name, model_names, output_names, example_weighted)
    ]


def _keys(name, model_names, output_names, example_weighted=False):
    """One metric key per model and output (TFMA's '' when it names none)."""
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            yield metric_types.MetricKey(
                name=name,
                model_name=model_name,
                output_name=output_name,
                example_weighted=example_weighted,
            )


class _GAUCCombiner(beam.CombineFn):
    """Accumulates each user's labels and predictions ({user id: ([labels],
    [predictions])}); the per-user AUCs are taken at the end.

    It reads the label and the model's probability straight from the inputs rather than
    through TFMA's general `to_label_prediction_example_weight` (multi-class, top-k, class
    weights), which cost more than the rest of this combiner on every example and slice.
    """

    def __init__(self, key: metric_types.MetricKey, eval_config, user_key: str):
        self._key = key
        self._user_key = user_key
        self._prediction_key = _prediction_key(eval_config, key.model_name)

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, accumulator: dict, element) -> dict:
        user = np.asarray((element.features or {}).get(self._user_key, ())).reshape(-1)
        model, output = self._key.model_name or None, self._key.output_name or None
        labels = element.get_labels(model, output)
        predictions = element.get_predictions(model, output)
        if isinstance(predictions, Mapping):
            predictions = predictions.get(self._prediction_key)
        if labels is None or predictions is None or user.size == 0:  # in no user's AUC
            return accumulator
        user_labels, user_predictions = accumulator.setdefault(user[0], ([], []))
        user_labels.extend(np.asarray(labels, dtype=float).reshape(-1).tolist())
        user_predictions.extend(np.asarray(predictions, dtype=float).reshape(-1).tolist())
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict]) -> dict:
        accumulators = iter(accumulators)
        result = next(accumulators, {})
        for accumulator in accumulators:
            for user, (labels, predictions) in accumulator.items():
                user_labels, user_predictions = result.setdefault(user, ([], []))
                user_labels.extend(labels)
                user_predictions.extend(predictions)
        return result

    def extract_output(self, accumulator: dict) -> dict:
        users = [user for user, (labels, _) in accumulator.items() for _ in labels]
        labels = [label for labels, _ in accumulator.values() for label in labels]
        predictions = [p for _, predictions in accumulator.values() for p in predictions]
        return {self._key: gauc(np.asarray(users, dtype=object), labels, predictions)}


def _prediction_key(eval_config, model_name: str) -> str:
    """The ModelSpec's prediction_key of `model_name` (TFMA names a lone model '')."""
    specs = eval_config.model_specs if eval_config else []
    for spec in specs:
        if spec.name == model_name or (len(specs) == 1 and not model_name):
            return spec.prediction_key
    return ""


# Evidence for the gate: an AUC measured on a handful of clicks means nothing (a 13-row
# eval split once blessed a model at AUC 0.78), so the gate also needs enough eval
# examples of each class. Two metrics, so each carries its own TFMA threshold. Both are
# derived from the unweighted label sum and example count that TFMA's MeanLabel and
# Calibration already accumulate, so they add no per-example work (labels are 0/1: the
# schema fixes the label's domain).
EVAL_POSITIVES_NAME = "eval_positives"
EVAL_NEGATIVES_NAME = "eval_negatives"


class EvalPositives(metric_types.Metric):
    """TFMA metric `eval_positives`: the number of eval examples labelled 1."""

    def __init__(self, name: str = EVAL_POSITIVES_NAME):
        super().__init__(_class_count_computations, name=name, positive=True)


class EvalNegatives(metric_types.Metric):
    """TFMA metric `eval_negatives`: the number of eval examples labelled 0."""

    def __init__(self, name: str = EVAL_NEGATIVES_NAME):
        super().__init__(_class_count_computations, name=name, positive=False)


metric_types.register_metric(EvalPositives)
metric_types.register_metric(EvalNegatives)


def _class_count_computations(
    name: str,
    positive: bool,
    eval_config=None,
    model_names: list[str] | None = None,
    output_names: list[str] | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    del example_weighted  # evidence counts examples, whatever their weights
    computations = []
    for key in _keys(name, model_names, output_names):
        # TFMA's own totals computation (private, pinned with TFMA 0.47); the same one
        # MeanLabel uses, so TFMA computes it once for both.
        totals = calibration._weighted_labels_predictions_examples(
            eval_config=eval_config,
            model_name=key.model_name,
            output_name=key.output_name,
            example_weighted=False,
        )
        computations.extend(totals)
        computations.append(
            metric_types.DerivedMetricComputation(
                keys=[key], result=_class_count(key, totals[-1].keys[-1], positive)
            )
        )
    return computations


def _class_count(key: metric_types.MetricKey, totals_key: metric_types.MetricKey, positive: bool):
    def result(metrics: dict) -> dict:
        totals = metrics[totals_key]
        clicks = float(totals.total_weighted_labels)
        return {key: clicks if positive else float(totals.total_weighted_examples) - clicks}

    return result
