"""The one evaluation: which models it names, where the gate's thresholds are, and how a
first run (nothing served) is judged. The e2e tests run it on real models."""

from __future__ import annotations

import rocket_seed
import tensorflow_model_analysis as tfma

from components.rocket_evaluator import BASELINE, BOOSTER, CANDIDATE
from components.rocket_evaluator.executor import without_baseline
from pipeline import tfx_pipeline

SEED = rocket_seed.default_config()


def thresholds(spec: tfma.MetricsSpec) -> dict[str, tfma.MetricThreshold]:
    return {m.class_name: t.threshold for m in spec.metrics for t in m.per_slice_thresholds}


def test_only_the_candidate_and_its_baseline_are_gated_and_the_booster_is_measured_alike():
    config = tfx_pipeline.eval_config(SEED, min_auc=0.6, max_auc_drop=0.01, min_class_examples=20)
    gated, measured = config.metrics_specs
    assert list(gated.model_names) == [CANDIDATE, BASELINE]
    assert list(measured.model_names) == [BOOSTER]
    evidence = {"EvalPositives", "EvalNegatives"}  # the gate's, about the data, not a net
    assert [m.class_name for m in gated.metrics if m.class_name not in evidence] == [
        m.class_name for m in measured.metrics
    ]
    assert {"AUC", "GAUC", "ConfusionMatrixPlot", "CalibrationPlot", "BinaryCrossentropy"} <= {
        m.class_name for m in measured.metrics
    }
    gate = thresholds(gated)
    assert gate["AUC"].value_threshold.lower_bound.value == 0.6
    assert gate["AUC"].change_threshold.absolute.value == -0.01
    assert gate["EvalPositives"].value_threshold.lower_bound.value == 20
    assert thresholds(measured) == {}  # the booster never decides the blessing
    tfma.utils.verify_eval_config(config)
    # Without --max-auc-drop there is no baseline to evaluate at all.
    alone = tfx_pipeline.eval_config(SEED, min_auc=0.6)
    assert [s.name for s in alone.model_specs] == [CANDIDATE, BOOSTER]


def test_a_first_run_drops_the_baseline_and_its_change_threshold_but_keeps_the_rest():
    """Nothing served: the one evaluation judges the candidate by its absolute thresholds
    (TFX's rubber stamp) and still measures the booster."""
    config = tfx_pipeline.eval_config(SEED, min_auc=0.6, max_auc_drop=0.01)
    assert [s.name for s in config.model_specs] == [CANDIDATE, BOOSTER, BASELINE]
    first = without_baseline(config)
    assert [s.name for s in first.model_specs] == [CANDIDATE, BOOSTER]
    assert [list(m.model_names) for m in first.metrics_specs] == [[CANDIDATE], [BOOSTER]]
    (auc,) = [m for m in first.metrics_specs[0].metrics if m.class_name == "AUC"]
    (threshold,) = auc.per_slice_thresholds
    assert threshold.threshold.value_threshold.lower_bound.value == 0.6
    assert not threshold.threshold.HasField("change_threshold")
    tfma.utils.verify_eval_config(first)
    assert len(config.model_specs) == 3  # the compiled config itself is unchanged
