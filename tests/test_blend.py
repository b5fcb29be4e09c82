"""The served light model (rocket_blend): the light net blended with the linear baseline."""

import json

import numpy as np
import pytest
import rocket_blend
import rocket_config
import rocket_data
import rocket_model
import tensorflow as tf
from test_model import TABLE_SIZE, _fit_datasets, batch, build, small_config


def _logits(rng, signal, weight, noise=1.0):
    return weight * signal + noise * rng.normal(size=signal.shape)


def test_the_weight_follows_what_each_model_knows_of_the_clicks():
    """The light net's weight is 1 when the baseline adds nothing, 0 when the net adds
    nothing, and in between when each knows a part of the click logit the other misses:
    then the blend scores better than either part."""
    rng = np.random.default_rng(0)
    rows = 20_000
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-(1.5 * a + 1.5 * b - 2)))).astype(float)
    knows_all = 1.5 * a + 1.5 * b - 2
    noise = rng.normal(size=rows)
    chosen = rocket_blend.choose(knows_all, noise, labels, "test")
    assert chosen.light_weight == 1.0 and chosen.validation_rows == rows
    assert rocket_blend.choose(noise, knows_all, labels, "test").light_weight == 0.0
    light, linear = 3 * a - 1, 3 * b - 1  # each knows one half
    blend = rocket_blend.choose(light, linear, labels, "test")
    assert 0.3 <= blend.light_weight <= 0.7
    scores = dict(zip(rocket_blend.LIGHT_WEIGHTS, blend.validation_scores))
    assert scores[blend.best_on_validation] == max(scores.values())
    assert scores[blend.light_weight] > max(scores[0.0], scores[1.0])
    # On few rows the even blend stays unless another weight is clearly better: a light
    # net a little better than the baseline on 300 rows does not displace it.
    few = slice(0, 300)
    slightly = rocket_blend.choose(knows_all[few] + 0.5 * noise[few], knows_all[few]
                                   + noise[few], labels[few], "test")  # fmt: skip
    assert slightly.light_weight == rocket_blend.EVEN
    assert 0.0 < slightly.standard_error < 0.1
    record = blend.as_dict()
    assert record["light_weight"] == blend.light_weight and record["linear_logits"] == "test"
    assert len(record["validation_scores"]) == len(record["weights"]) == 11


def _validation(seed: int, light_noise: float = 3.0):
    """(light, linear, labels) of a small validation hold-out (~50 clicks, as the real
    sample's): the clicks follow a weakly, the linear logit knows a, the light one a
    with `light_noise`."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=800)
    labels = (rng.random(800) < 1 / (1 + np.exp(-(0.6 * a - 3)))).astype(float)
    return 0.3 * a + light_noise * rng.normal(size=800), 0.6 * a, labels


def test_a_light_net_near_chance_on_the_validation_rows_gets_no_weight():
    """A light net whose validation AUC is within two standard errors of chance is left
    out (weight 0, the baseline alone), though the even blend would have stayed by the
    other rule; one just beyond them keeps the even blend; the run says why."""
    near_chance = rocket_blend.choose(*_validation(5), "test")
    light_auc = near_chance.validation_scores[-1]
    assert 0.5 < light_auc < 0.5 + 2 * near_chance.light_standard_error
    even = rocket_blend.LIGHT_WEIGHTS.index(rocket_blend.EVEN)
    by_the_other_rule = max(near_chance.validation_scores) - near_chance.validation_scores[even]
    assert by_the_other_rule <= near_chance.standard_error  # it alone would keep 0.5
    assert near_chance.light_weight == 0.0 and not near_chance.light_ranks
    warning = rocket_blend.no_ranking_warning(near_chance.as_dict())
    assert f"validation AUC {light_auc:.4f} is within 2 standard errors" in warning
    assert "serves the linear baseline alone" in warning

    ranks = rocket_blend.choose(*_validation(1), "test")
    assert ranks.validation_scores[-1] > 0.5 + 2 * ranks.light_standard_error
    assert ranks.light_ranks and ranks.light_weight == rocket_blend.EVEN
    assert rocket_blend.no_ranking_warning(ranks.as_dict()) is None


def test_a_validation_hold_out_without_a_click_serves_the_baseline_and_says_why():
    """A small log's hold-out can hold no click (a 400-row run: 42 rows, 0 clicks): no AUC
    is defined there, so nothing shows that the light net ranks. The run goes on with the
    baseline alone (it had stopped with scikit-learn's "Only one class present in
    y_true"), its record is valid JSON, and the run says why."""
    light, linear, labels = _validation(1)
    for one_class in (np.zeros_like(labels), np.ones_like(labels)):
        blend = rocket_blend.choose(light[:42], linear[:42], one_class[:42], "test")
        assert blend.light_weight == 0.0 and not blend.light_ranks
        record = blend.as_dict()
        assert record["validation_scores"] == [] and record["validation_rows"] == 42
        assert record["light_validation_auc_standard_error"] is None
        json.loads(json.dumps(record, allow_nan=False))
        warning = rocket_blend.no_ranking_warning(record)
        assert "hold-out (42 rows) holds one class only" in warning
        assert "serves the linear baseline alone" in warning


def test_a_blended_path_serves_the_weighted_logits_of_its_two_nets_only():
    """The served light model: w x the light net's logits + (1 - w) x the linear
    baseline's, folded as each net is folded; it holds no booster variable, and at weight
    1 the light net alone is served."""
    config = small_config()
    pair = build(config)
    linear = build(rocket_config.linear_config(config))
    features, _ = batch(config, size=64)
    pair(features)
    linear(features)
    light_path = pair.net_path(rocket_model.LIGHT)
    linear_path = linear.net_path(rocket_model.LIGHT)
    blended = rocket_blend.served_path(light_path, linear_path, 0.3)
    expected = 0.3 * light_path.logits(features) + 0.7 * linear_path.logits(features)
    np.testing.assert_allclose(blended.logits(features), expected, atol=1e-5)
    np.testing.assert_allclose(blended.folded().logits(features), expected, atol=1e-5)
    probabilities = blended(features).numpy()
    margin = expected[:, 1] - expected[:, 0]
    np.testing.assert_allclose(probabilities, tf.sigmoid(margin), atol=1e-5)
    held = {v.ref() for v in blended.variables}
    assert held == {v.ref() for v in light_path.variables + linear_path.variables}
    assert not held & {v.ref() for v in pair.booster_tower.variables + pair.booster_head.variables}
    assert set(blended.input_columns) == set(light_path.input_columns)
    assert rocket_blend.served_path(light_path, linear_path, 1.0) is light_path
    assert rocket_blend.served_path(light_path, None, 0.3) is light_path


def test_the_weight_is_chosen_on_validation_rows_new_to_the_baseline():
    """A baseline trained on the validation rows is replaced, for the choice, by
    scikit-learn's logistic regression with its L2 fit without them; an early-stopped
    baseline, which did not train on them, gives its own validation logits. The eval
    AUCs of the blends are measured with the nets' own logits."""
    config = small_config(**{"train.learning_rate": 0.05})
    sizes = {f.name: TABLE_SIZE for f in config.model_features()}
    train, validation = _fit_datasets(config)
    pair, linear = build(config), build(rocket_config.linear_config(config))
    features, _ = batch(config, size=8)
    pair(features)
    linear(features)
    linear.rocket = rocket_config.with_changes(
        rocket_config.linear_config(config), **{"model.weight_regularization": 1e-3}
    ).model
    rows, labels = batch(config, size=1024, seed=3)
    every_row = tf.data.Dataset.from_tensor_slices((rows, labels)).batch(128)
    splits = rocket_data.Splits(train, validation, validation, train_once=lambda: every_row)
    seen = rocket_blend.choose_for(pair, linear, splits, sizes, 0.1, {"every_train_row": True})
    assert "scikit-learn" in seen.linear_logits and seen.validation_rows == 256
    unseen = rocket_blend.choose_for(pair, linear, splits, sizes, 0.1, {})
    assert unseen.linear_logits.startswith("the linear baseline")
    evaluation = rocket_blend.evaluate(pair, linear, 1.0, validation)
    assert evaluation["auc_light"] == pytest.approx(
        pair.evaluate(validation, verbose=0, return_dict=True)["auc_light"], abs=1e-4
    )
    paired = {"auc_light_minus_linear", "auc_light_minus_linear_standard_error"}
    assert set(evaluation) == {"auc_light", "auc_booster", *paired}
    # The served light model's lift over the baseline on the same rows, with its paired
    # (DeLong) standard error: the yardstick of the run's verdict.
    # The lift is exact (the Evaluator's and Keras's AUCs bucket the scores; on these
    # 256 rows a 10,000-threshold AUC differs from the exact one by up to 0.002).
    labels, margins = rocket_blend.read_margins(
        validation, {name: (model, rocket_model.LIGHT) for name, model in
                     (("light", pair), ("linear", linear))}
    )  # fmt: skip
    exact = rocket_blend.auc(labels, margins["light"]) - rocket_blend.auc(labels, margins["linear"])
    assert evaluation["auc_light_minus_linear"] == pytest.approx(exact, abs=2e-6)
    assert 0 < evaluation["auc_light_minus_linear_standard_error"] < 0.2


def test_the_run_and_the_report_say_when_the_light_net_got_no_weight():
    """The console verdict and report.md carry the warning of a blend that left the light
    net out, and say nothing of it otherwise."""
    from components.evaluation_report.report import render_markdown
    from pipeline.run_summary import format_summary

    left_out = rocket_blend.choose(*_validation(5), "test")
    kept = rocket_blend.choose(*_validation(1), "test")
    for blend in (left_out, kept):
        served = blend.as_dict()
        summary = {
            "light_auc": 0.55, "booster_auc": 0.55, "light_gauc": None, "booster_gauc": None,
            "baseline_light_auc": None, "train_rows": 8000, "eval_rows": 2000,
            "served": served, "trainer_light_auc": 0.5, "trainer_booster_auc": 0.5,
            "blessed": True, "not_blessed_reasons": [], "pushed_model_dir": "serving/1",
            "report": "report.md", "wall_seconds": 1.0,
        }  # fmt: skip
        report = {"baseline_light": None, "blessed": True, "not_blessed_reasons": [],
                  "served": served, "nets_alone": {}, "light": {}, "booster": {},
                  "light_by_slice": {}, "booster_by_slice": {}}  # fmt: skip
        console, markdown = format_summary(summary), render_markdown(report)
        warning = rocket_blend.no_ranking_warning(served)
        if blend is left_out:
            assert f"  WARNING: {warning}" in console and f"**Warning:** {warning}." in markdown
            assert "serves: the linear baseline alone" in console
        else:
            assert warning is None and "WARNING" not in console and "Warning" not in markdown
