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


def test_min_lift_over_linear_raises_the_candidates_auc_floor_only(tmp_path):
    """The floor is known only after training: the executor reads the Trainer's linear
    baseline and lifts the candidate's AUC lower bound to it (+ X) when that is higher,
    adds one when there was none, and never gates the booster."""
    import json

    import pytest

    from components.rocket_evaluator.executor import linear_baseline_auc, raise_auc_floor

    (tmp_path / "metrics.json").write_text(json.dumps({"linear_baseline": {"auc": 0.8}}))
    assert linear_baseline_auc(str(tmp_path)) == 0.8
    config = tfx_pipeline.eval_config(SEED, min_auc=0.6)
    raise_auc_floor(config, 0.8 + 0.01)
    gated, measured = config.metrics_specs
    assert thresholds(gated)["AUC"].value_threshold.lower_bound.value == pytest.approx(0.81)
    assert thresholds(measured) == {}
    raise_auc_floor(config, 0.7)  # below the bound it has: unchanged
    assert thresholds(gated)["AUC"].value_threshold.lower_bound.value == pytest.approx(0.81)
    ungated = tfx_pipeline.eval_config(SEED, min_auc=None)
    assert "AUC" not in thresholds(ungated.metrics_specs[0])
    raise_auc_floor(ungated, 0.75)
    assert thresholds(ungated.metrics_specs[0])["AUC"].value_threshold.lower_bound.value == 0.75
    tfma.utils.verify_eval_config(ungated)
    (tmp_path / "metrics.json").write_text(json.dumps({"auc_light": 0.7}))
    with pytest.raises(ValueError, match="needs the Trainer's linear baseline.*metrics.json"):
        linear_baseline_auc(str(tmp_path))


def test_the_linear_baseline_is_measured_beside_the_booster_and_never_gated():
    """With the Trainer's linear baseline exported, the executor adds it as the booster
    is: its own ModelSpec, in the booster's (threshold-free) MetricsSpec only."""
    from components.rocket_evaluator.executor import with_model_beside
    from components.rocket_evaluator.model_names import LINEAR

    config = tfx_pipeline.eval_config(SEED, min_auc=0.6, max_auc_drop=0.01)
    beside = with_model_beside(config, LINEAR)
    specs = {spec.name: spec for spec in beside.model_specs}
    assert set(specs) == {CANDIDATE, BOOSTER, BASELINE, LINEAR}
    assert specs[LINEAR].label_key == specs[BOOSTER].label_key and not specs[LINEAR].is_baseline
    gated, measured = beside.metrics_specs
    assert LINEAR not in gated.model_names and list(measured.model_names) == [BOOSTER, LINEAR]
    assert thresholds(measured) == {}
    assert len(config.model_specs) == 3  # the compiled config is left as it was
    tfma.utils.verify_eval_config(without_baseline(beside))


def test_a_runs_thresholds_replace_the_compiled_ones():
    """A compiled package's min_auc / max_auc_drop runtime parameters reach the executor
    as execution properties and are written into the EvalConfig it evaluates with."""
    import pytest

    from components.rocket_evaluator.executor import set_auc_thresholds

    config = tfx_pipeline.eval_config(SEED, min_auc=0.5, max_auc_drop=0.01)
    set_auc_thresholds(config, 0.62, 0.05)
    gated, measured = config.metrics_specs
    auc = thresholds(gated)["AUC"]
    assert auc.value_threshold.lower_bound.value == pytest.approx(0.62)
    assert auc.change_threshold.absolute.value == pytest.approx(-0.05)
    assert thresholds(measured) == {}  # the booster is still only measured
    set_auc_thresholds(config, None, None)  # nothing given: unchanged
    assert thresholds(gated)["AUC"].value_threshold.lower_bound.value == pytest.approx(0.62)
    tfma.utils.verify_eval_config(config)
    no_served = tfx_pipeline.eval_config(SEED, min_auc=0.5)
    with pytest.raises(ValueError, match="compiled without the comparison with the served"):
        set_auc_thresholds(no_served, None, 0.02)


def test_the_verdict_says_when_the_light_net_loses_to_the_linear_baseline():
    from components.evaluation_report.report import (
        eval_counts,
        linear_gate_reason,
        linear_verdict,
    )

    wins = linear_verdict(0.82, 0.80)
    assert wins["light_wins"] and round(wins["lift"], 4) == 0.02 and "+0.0200" in wins["text"]
    assert wins["auc_standard_error"] is None and not wins["within_noise"]  # no counts given
    loses = linear_verdict(0.7417, 0.7980)
    assert not loses["light_wins"] and "0.0563 AUC below the logistic regression" in loses["text"]
    assert "use_bn: false" in loses["text"]  # what to try, in EasyRec's terms
    assert linear_verdict(None, 0.8) is None
    # With the eval split's counts (TFMA's mean label and example count): the default
    # run's ~500 clicks know an AUC to about ±0.012, so 0.056 below is a loss, diagnosed.
    default_run = eval_counts({"example_count": 10097.0, "mean_label": 0.0495})
    assert default_run == (500, 9597)
    loses = linear_verdict(0.7417, 0.7980, default_run)
    assert not loses["within_noise"] and 0.010 < loses["auc_standard_error"] < 0.014
    assert "use_bn: false" in loses["text"] and "one standard error ±0.01" in loses["text"]
    # The real sample's eval split (~100 clicks, ±0.03): a 0.003 difference is noise, said
    # as such, with how to measure it instead of a diagnosis.
    real_counts = eval_counts({"example_count": 1980.0, "mean_label": 0.05})
    real = linear_verdict(0.5247, 0.5277, real_counts)
    assert real["within_noise"] and not real["light_wins"] and real["lift"] == -0.003
    assert "within the noise of an eval split with 99 clicks" in real["text"]
    assert "--folds 5" in real["text"] and "use_bn" not in real["text"]
    assert eval_counts({"example_count": 10.0}) is None
    # GAUC (the Evaluator's, both models): said when the linear model ranks a user's own
    # impressions better beyond the AUC's standard error, as at 50,000 generated rows
    # (light 0.7265, linear 0.7443; ~500 eval clicks, ±0.010).
    fifty = linear_verdict(0.8687, 0.8637, default_run, gaucs=(0.7265, 0.7443))
    assert fifty["light_wins"] and fifty["gauc_lift"] == -0.0178
    said = fifty["gauc_text"]
    assert "GAUC 0.7443 against 0.7265 (-0.0178, beyond the AUC's standard error ±0.01" in said
    # The real sample's split (~100 clicks, ±0.03): a 0.02 GAUC difference is noise.
    noise = linear_verdict(0.5247, 0.5277, real_counts, gaucs=(0.49, 0.51))
    assert noise["gauc_lift"] == -0.02 and noise["gauc_text"] is None
    assert linear_verdict(0.87, 0.86, gaucs=(0.75, 0.74))["gauc_text"] is None
    assert linear_verdict(0.87, 0.86, gaucs=(None, 0.74))["gauc_lift"] is None
    no_counts = linear_verdict(0.87, 0.86, gaucs=(0.73, 0.74))  # no error to compare with
    assert "GAUC 0.7400 against 0.7300 (-0.0100)" in no_counts["gauc_text"]

    # With the difference measured exactly on the same rows and its paired standard error
    # (DeLong, from the Trainer's eval logits) the lift is that and judged by that error:
    # the default run's served model, +0.0028 over the baseline, is within one AUC's
    # ±0.010 but beyond the difference's ±0.0023. The GAUC stays judged by the single
    # AUC's error.
    unpaired = linear_verdict(0.8816, 0.8788, default_run, gaucs=(0.7498, 0.7653))
    assert unpaired["within_noise"] and not unpaired["lift_error_paired"]
    paired = linear_verdict(0.8816, 0.8788, default_run, gaucs=(0.7498, 0.7653),
                            paired=(0.0029, 0.0023))  # fmt: skip
    assert paired["light_wins"] and not paired["within_noise"] and paired["lift_error_paired"]
    assert paired["lift"] == 0.0029 and paired["lift_standard_error"] == 0.0023
    assert "beats the logistic regression on the same rows by +0.0029" in paired["text"]
    assert "standard error ±0.0023, paired on the same rows" in paired["text"]
    assert paired["gauc_text"] == unpaired["gauc_text"] and "±0.01" in paired["gauc_text"]
    # The exact lift decides, not the two threshold-binned AUCs' difference (+0.0028).
    assert linear_verdict(0.8816, 0.8788, default_run, paired=(0.0004, 0.0023))["within_noise"]
    assert not linear_verdict(0.8816, 0.8788, default_run, paired=(0.003, float("nan")))[
        "lift_error_paired"
    ]
    # The light model is the baseline alone (weight 0): its AUC differs from the
    # baseline's only by the two curves' thresholds (0.5908 vs 0.5915 on a 400-row run),
    # so it is said as such, not diagnosed as a loss.
    alike = linear_verdict(0.5908, 0.5915, real_counts, gaucs=(0.45, 0.50), paired=(0.0, 0.0),
                           serves_baseline=True)  # fmt: skip
    assert alike["lift"] == 0.0 and not alike["light_wins"] and alike["within_noise"]
    assert alike["text"].startswith("the light model serves the logistic regression alone")
    assert "use_bn" not in alike["text"] and alike["gauc_text"] is None

    gate = {"min_lift_over_linear": 0.0, "linear_baseline_auc": 0.798}
    assert linear_gate_reason(gate, 0.7417) == (
        "light AUC − linear baseline AUC = -0.0563, below --min-lift-over-linear 0 "
        "(linear baseline 0.7980)"
    )
    assert linear_gate_reason(gate, 0.81) is None and linear_gate_reason({}, 0.5) is None


def test_the_verdict_says_when_the_probabilities_are_worse_than_a_constant():
    """The real sample's run: log loss 0.5425 at a 4.85% click rate, where a constant
    prediction has 0.1941; the default run's 0.1587 at ~5% is better than its constant."""
    from components.evaluation_report.report import log_loss_verdict

    real = log_loss_verdict({"binary_crossentropy": 0.5425, "mean_label": 0.0485})
    assert real["worse_than_constant"] and abs(real["constant_log_loss"] - 0.1941) < 1e-4
    assert "not usable as click rates" in real["text"] and "0.5425 against 0.1941" in real["text"]
    default_run = log_loss_verdict({"binary_crossentropy": 0.1587, "mean_label": 0.05})
    assert not default_run["worse_than_constant"] and "not usable" not in default_run["text"]
    assert log_loss_verdict({"binary_crossentropy": 0.2}) is None
    assert log_loss_verdict({"binary_crossentropy": 0.2, "mean_label": 0.0}) is None
