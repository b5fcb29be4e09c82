"""Read TFMA's evaluation output (metrics, plots, validation) as plain Python values."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

OVERALL = ""


def _is_model(key_model_name: str, wanted: str | None) -> bool:
    """`wanted` None: every model. The Evaluator always names its models (it evaluates at
    least the candidate and the booster; TFMA drops the name of a lone model only)."""
    return wanted is None or key_model_name == wanted


def slice_name(slice_key) -> str:
    """'' for the overall slice, else 'column=value[,column=value]'."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        parts.append(f"{single.column}={value}")
    return ",".join(parts)


def metrics_by_model(uri: str) -> dict[str, dict[str, dict[str, float]]]:
    """{model name: {slice: {metric name: value}}} of every model, read once; diffs skipped."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for per_slice in tfma.load_metrics(uri):
        where = slice_name(per_slice.slice_key)
        for entry in per_slice.metric_keys_and_values:
            key = entry.key
            if key.is_diff or not entry.value.HasField("double_value"):
                continue
            slices = result.setdefault(key.model_name, {})
            slices.setdefault(where, {})[key.name] = entry.value.double_value.value
    return result


def _overall_plot(uri: str, model_name: str | None, field: str):
    for per_slice in tfma.load_plots(uri):
        if slice_name(per_slice.slice_key) != OVERALL:
            continue
        for entry in per_slice.plot_keys_and_values:
            if not _is_model(entry.key.model_name, model_name):
                continue
            if entry.value.HasField(field):
                return getattr(entry.value, field)
    return None


def roc_curve(uri: str, model_name: str | None = None) -> tuple[list[float], list[float]]:
    """(false positive rates, true positive rates) from TFMA's ConfusionMatrixPlot."""
    plot = _overall_plot(uri, model_name, "confusion_matrix_at_thresholds")
    if plot is None:
        return [], []
    points = []
    for m in plot.matrices:
        positives = m.true_positives + m.false_negatives
        negatives = m.false_positives + m.true_negatives
        if positives > 0 and negatives > 0:
            points.append((m.false_positives / negatives, m.true_positives / positives))
    points.sort()
    return [0.0] + [p[0] for p in points] + [1.0], [0.0] + [p[1] for p in points] + [1.0]


def calibration(
    uri: str, model_name: str | None = None, bins: int = 20
) -> list[tuple[float, float, float]]:
    """(mean prediction, observed click rate, examples) in about `bins` equal-count bins,
    merged from TFMA's fine CalibrationPlot buckets (ordered by prediction)."""
    plot = _overall_plot(uri, model_name, "calibration_histogram_buckets")
    if plot is None:
        return []
    buckets = [
        (b.total_weighted_refined_prediction.value, b.total_weighted_label.value,
         b.num_weighted_examples.value)
        for b in plot.buckets
        if b.num_weighted_examples.value > 0
    ]  # fmt: skip
    total = sum(count for _, _, count in buckets)
    rows, prediction, label, count = [], 0.0, 0.0, 0.0
    for bucket_prediction, bucket_label, bucket_count in buckets:
        prediction += bucket_prediction
        label += bucket_label
        count += bucket_count
        if count >= total / bins:
            rows.append((prediction / count, label / count, count))
            prediction, label, count = 0.0, 0.0, 0.0
    if count and rows and count < total / bins / 2:  # fold a small remainder into the last bin
        last_prediction, last_label, last_count = rows.pop()
        prediction += last_prediction * last_count
        label += last_label * last_count
        count += last_count
    if count:
        rows.append((prediction / count, label / count, count))
    return rows


COUNT_METRICS = ("eval_positives", "eval_negatives")  # rocket_metrics' evidence counts


def describe_failure(failed) -> str:
    """One TFMA validation failure as a sentence with the numbers."""
    name = failed.metric_key.name
    value = failed.metric_value.double_value.value
    threshold = failed.metric_threshold
    if failed.metric_key.is_diff:
        allowed = threshold.change_threshold.absolute.value
        return f"{name} changed by {value:+.4f} against the served model (allowed: {allowed:+g})"
    bounds = threshold.value_threshold
    if name in COUNT_METRICS and bounds.HasField("lower_bound"):
        return (
            f"{name} {value:.0f} is below the minimum {bounds.lower_bound.value:g} "
            "(too few eval examples of this class for the AUC to mean anything)"
        )
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} {value:.4f} is below the lower bound {bounds.lower_bound.value:g}"
    if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
        return f"{name} {value:.4f} is above the upper bound {bounds.upper_bound.value:g}"
    return f"{name} {value:.4f} fails {' '.join(str(threshold).split())}"


def failed_thresholds(uri: str) -> list[str]:
    """Why the Evaluator did not bless; [] when it did (or did not validate)."""
    validation = tfma.load_validation_result(uri)
    if validation is None or validation.validation_ok:
        return []
    reasons = []
    for per_slice in validation.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
        for failed in per_slice.failures:
            reasons.append(describe_failure(failed) + (f" (slice {where})" if where else ""))
    return reasons or ["the Evaluator did not validate the model"]
