"""End to end: `rocket run` as a user runs it, then the pushed light SavedModel is loaded
and called on real rows, unseen ids and nearly empty examples."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rocket_blend
import rocket_config
import rocket_logistic
import rocket_seed
import rocket_training
import tensorflow as tf

from components.easyrec_example_gen import Column, RowParser
from pipeline import sample_data

pytestmark = pytest.mark.slow
ROCKET = str(Path(sys.executable).with_name("rocket"))
SUMMARY_KEYS = {
    "light_auc",
    "booster_auc",
    "blessed",
    "pushed",
    "pushed_model_dir",
    "train_rows",
    "eval_rows",
    "wall_seconds",
}


def rocket_run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`rocket run` with a temporary directory of its own, cwd/tmp."""
    (cwd / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TMPDIR": str(cwd / "tmp")}
    return subprocess.run(
        [ROCKET, "run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200
    )


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    # 120 steps: on these 3,200 train rows the nets' validation AUC is below chance for
    # their first ~20 steps (before and after the lookups; a likely cause: while the
    # logits fall to the 5% click rate, rows with longer tag lists, which sum more
    # embeddings, fall further), and with 60 steps the early stop's patience (a quarter
    # of the budget, 15 steps) ended training there once the lookups were added
    # (docs/benchmarks.md, "The ad's category in the behaviour list").
    result = rocket_run(
        "--rows", "4000", "--train-steps", "120", "--output", str(out / "o"), cwd=out
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "o", result, json.loads((out / "o" / "run_summary.json").read_text())


def serve(model_dir: str, examples: list[tf.train.Example]) -> np.ndarray:
    model = tf.saved_model.load(model_dir)
    serialized = tf.constant([e.SerializeToString() for e in examples])
    out = model.signatures["serving_default"](examples=serialized)
    return out["probabilities"].numpy()


def saved_variable_shapes(model_dir: str) -> list[tuple]:
    """Shapes of every variable stored in the SavedModel's checkpoint."""
    entries = tf.train.list_variables(f"{model_dir}/variables/variables")
    return [tuple(shape) for name, shape in entries if name.endswith("VARIABLE_VALUE")]


def test_run_prints_and_records_the_facts(generated_run):
    out, result, summary = generated_run
    assert SUMMARY_KEYS <= set(summary)
    assert summary["train_rows"] + summary["eval_rows"] == 4000
    assert 0.5 < summary["light_auc"] <= 1 and 0.5 < summary["booster_auc"] <= 1
    # TFMA's AUC of the exported light model equals the Trainer's AUC of the blend it
    # chose to serve (rocket_blend): the SavedModel (TFT layer + light path + linear
    # baseline) computes what was trained and chosen. Likewise the booster's blend.
    served = summary["served"]
    assert served["light_weight"] in rocket_blend.LIGHT_WEIGHTS
    assert served["chosen_by"] == rocket_blend.CRITERION and served["validation_rows"] > 100
    assert "scikit-learn's logistic regression" in served["linear_logits"]  # every row
    scores = dict(zip(served["weights"], served["validation_scores"]))
    best = served["best_on_validation"]
    assert scores[best] == max(scores.values())
    clear = scores[best] - scores[0.5] > served["validation_auc_standard_error"]
    assert served["light_ranks"]  # 4,000 generated rows: far above chance
    # The verdict's lift over the baseline is the Trainer's, exact on the same eval rows
    # from its eval logits, judged by its paired (DeLong) error; the two threshold-binned
    # AUCs (the Evaluator's light, the Trainer's linear) differ by it within 3e-3.
    verdict = summary["linear_verdict"]
    assert verdict["lift_error_paired"] and served["light_weight"] > 0
    assert verdict["lift"] == served["auc_light_minus_linear"]
    assert verdict["lift_standard_error"] == round(
        served["auc_light_minus_linear_standard_error"], 4
    )
    assert 0 < served["auc_light_minus_linear_standard_error"] < verdict["auc_standard_error"]
    linear_auc = summary["linear_baseline_auc"]
    assert verdict["lift"] == pytest.approx(summary["light_auc"] - linear_auc, abs=3e-3)
    assert served["light_weight"] == (best if clear else 0.5)
    assert summary["light_auc"] == pytest.approx(served["auc_light"], abs=2e-3)
    assert summary["booster_auc"] == pytest.approx(served["auc_booster"], abs=2e-3)
    assert f"the light SavedModel serves: {rocket_blend.describe(served['light_weight'])}" in (
        result.stdout
    )
    assert f"the nets alone (Trainer, eval split): light {summary['trainer_light_auc']:.4f}" in (
        result.stdout
    )
    assert summary["blessed"] is True and summary["pushed"] is True
    assert Path(summary["pushed_model_dir"]).parent == out / "serving"
    # Training ends at the best validation check (rows held out of the train split).
    training = summary["training"]
    assert training["exported_step"] == training["best_validation_step"] <= 120
    assert f"exported the weights of step {training['exported_step']}" in result.stdout
    # ~3,200 train rows, below SMALL_LOG_MAX_ROWS: the nets with the small-log
    # embedding_regularization, the linear baseline as a logistic regression, the pair
    # trained once, with EasyRec's stop-gradient, and the run says so.
    assert training["light_trains_share"] is False and "gradient_candidates" not in training
    small = rocket_config.SMALL_LOG_EMBEDDING_REGULARIZATION
    assert (
        f"fewer than 20,000): the nets are trained with embedding_regularization {small:g}"
        in result.stdout
    )
    assert "the linear baseline as a logistic regression, the L2 on its weights chosen by " \
        "cross-validation" in result.stdout  # fmt: skip
    assert "gradient candidate" not in result.stdout
    # Chosen by scikit-learn's LogisticRegressionCV on the rows it trains on (every train
    # row: fit to its end, it reads no validation rows), used as an L2 of 1/(C x rows).
    rows, linear = summary["train_rows"], summary["linear_baseline"]
    choice = linear["l2_cross_validation"]
    assert choice["C"] in rocket_logistic.CS and choice["rows"] == rows
    l2 = 1 / (choice["C"] * choice["rows"])
    assert linear["weight_regularization"] == pytest.approx(l2)
    assert linear["every_train_row"] is True and linear["exported_step"] == 0
    assert linear["fit_by"] == rocket_training.SCIKIT_LEARN_FIT  # its refit, no loop
    assert f"linear baseline: C={choice['C']:.3g} chosen by 5-fold cross-validation" in (
        result.stdout
    )
    assert (
        f"fit by {rocket_training.SCIKIT_LEARN_FIT}, embedding_regularization 0, "
        f"weight_regularization "
        f"{l2:.3g}): eval auc=" in result.stdout
    )
    for component in ("EasyRecExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert f"[{component}] done in" in result.stdout
    assert f"light AUC (Evaluator, eval split): {summary['light_auc']:.4f}" in result.stdout
    assert f"booster AUC (Evaluator, eval split): {summary['booster_auc']:.4f}" in result.stdout
    # Evaluation that decides: GAUC for both nets, no baseline on a first run, a report.
    # GAUC of an 800-row eval split rests on the few users with both a click and a
    # non-click, so it is only checked to be a proper value here; tests/test_gauc.py
    # checks the number against a hand computation.
    assert 0 <= summary["light_gauc"] <= 1 and 0 <= summary["booster_gauc"] <= 1
    assert summary["light_gauc"] != summary["light_auc"]
    assert summary["baseline_light_auc"] is None
    assert "served light AUC (baseline): none (first run)" in result.stdout
    assert set(summary["light_auc_by_slice"]) == {"pid=430548_1007", "pid=430539_1007"}
    report = Path(summary["report"])
    text = report.read_text()
    assert "| GAUC |" in text and "booster − light" in text and "pid=430548_1007" in text
    for plot in ("roc.png", "calibration.png"):
        assert (report.parent / plot).read_bytes()[:4] == b"\x89PNG"
    # The Trainer's linear baseline (a logistic regression on the same rows): in the
    # summary, on the console and in the report.
    linear = summary["linear_baseline_auc"]
    assert 0.0 < linear < 1.0
    assert f"logistic regression, same rows (Trainer's linear baseline): {linear:.4f}" in (
        result.stdout
    )
    # Its GAUC, from the Evaluator (which measures the exported linear baseline too).
    linear_gauc = summary["linear_baseline_gauc"]
    assert 0 <= linear_gauc <= 1 and f"(GAUC {linear_gauc:.4f})" in result.stdout
    assert f"AUC {linear:.4f} (GAUC {linear_gauc:.4f}) on the eval split; light − linear: " in text
    # The verdict against it, the same sentence in the summary and on the console.
    verdict = summary["linear_verdict"]
    assert verdict["lift"] == served["auc_light_minus_linear"]  # exact, on the same rows
    assert verdict["light_wins"] == (verdict["lift"] > 0) and verdict["text"] in result.stdout
    gauc_lift = summary["light_gauc"] - linear_gauc
    assert verdict["gauc_lift"] == pytest.approx(gauc_lift, abs=1e-6)
    assert (verdict["gauc_text"] is not None) == (gauc_lift < -verdict["auc_standard_error"])
    if verdict["gauc_text"]:
        assert f"WARNING: {verdict['gauc_text']}" in result.stdout
    # How precisely this eval split knows an AUC (its clicks from TFMA's mean label).
    # The lift is judged by the difference's paired error (the served blend's, above).
    assert 0 < verdict["auc_standard_error"] < 0.2
    error = verdict["lift_standard_error"]
    assert verdict["within_noise"] == (abs(verdict["lift"]) <= error)
    assert_log_loss_verdict(summary, result.stdout)


def test_run_leaves_no_tfx_sdist_in_the_temporary_directory(generated_run):
    """Each Beam component used to leave a 49 MB sdist of TFX there (pipeline/beam_staging)."""
    out, _, _ = generated_run
    left = [str(p.relative_to(out.parent)) for p in (out.parent / "tmp").rglob("*.tar.gz")]
    assert left == []


def test_pushed_model_is_the_light_net_only(generated_run):
    out, _, summary = generated_run
    pushed = summary["pushed_model_dir"]
    booster = str(
        Path(summary["model_dir"]).parents[2]
        / "model_run"
        / Path(summary["model_dir"]).parent.name
        / "booster"
    )
    shapes = saved_variable_shapes(pushed)
    booster_only = {(64, 256), (256, 128)}  # the other booster shapes also occur in share
    assert booster_only <= set(saved_variable_shapes(booster))
    assert not set(shapes) & booster_only
    # The linear baseline is exported beside the booster for the Evaluator, never pushed.
    linear = Path(booster).parent / "linear_baseline"
    assert (linear / "saved_model.pb").exists()
    assert not any((Path(pushed) / name).exists() for name in ("booster", "linear_baseline"))

    # Both exports hold the same embeddings, share tower and head shape; what differs is
    # exactly light tower vs booster tower: kernel + bias per layer, the BatchNorms being
    # folded into them at export (4 vectors per layer less).
    def tower(dims):
        return sum(a * b + b for a, b in zip(dims, dims[1:]))

    expected = tower([64, 128, 64]) - tower([64, 256, 128, 96, 64])

    def count(shapes):
        return sum(int(np.prod(shape)) for shape in shapes)

    assert count(shapes) - count(saved_variable_shapes(booster)) == expected


def test_pushed_model_serves_real_unseen_and_sparse_examples(generated_run, taobao_sample):
    out, _, summary = generated_run
    pushed = summary["pushed_model_dir"]
    parser = RowParser([Column(f.name, f.type) for f in rocket_seed.TAOBAO_INPUT_FIELDS])
    lines = taobao_sample.read_bytes().splitlines()[:300]
    real = [parser.parse(line, "sample", i) for i, line in enumerate(lines, 1)]
    for example in real:
        del example.features.feature["clk"]  # serving has no label
    unseen = tf.train.Example()
    for name in ("user_id", "adgroup_id", "brand", "tag_category_list"):
        unseen.features.feature[name].bytes_list.value.append(b"never-seen-9|x")
    only_pid = tf.train.Example()
    only_pid.features.feature["pid"].bytes_list.value.append(b"430548_1007")
    huge_tags = tf.train.Example()
    huge_tags.features.feature["tag_brand_list"].bytes_list.value.append(
        "|".join(str(i) for i in range(1000)).encode()
    )
    probabilities = serve(pushed, real + [unseen, only_pid, tf.train.Example(), huge_tags])
    assert probabilities.shape == (304,)
    assert np.all(np.isfinite(probabilities))
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert np.std(probabilities[:300]) > 0  # it looks at the features


def test_pushed_model_replays_its_tf_serving_warmup_requests(generated_run):
    from tensorflow_serving.apis import prediction_log_pb2

    out, _, summary = generated_run
    pushed = summary["pushed_model_dir"]
    path = Path(pushed) / "assets.extra" / "tf_serving_warmup_requests"
    logs = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(str(path))
    ]
    assert [len(log.predict_log.request.inputs["examples"].string_val) for log in logs] == [1, 32]
    signature = tf.saved_model.load(pushed).signatures["serving_default"]
    for log in logs:
        batch = tf.make_ndarray(log.predict_log.request.inputs["examples"])
        probabilities = signature(examples=tf.constant(batch))["probabilities"].numpy()
        assert np.all(np.isfinite(probabilities))


def test_wrongly_typed_feature_is_a_clear_error(generated_run):
    out, _, summary = generated_run
    pushed = summary["pushed_model_dir"]
    bad = tf.train.Example()
    bad.features.feature["price"].bytes_list.value.append(b"cheap")
    with pytest.raises(tf.errors.InvalidArgumentError, match="price"):
        serve(pushed, [bad])


def test_serving_keeps_the_training_input_contract(generated_run):
    """One contract (rocket_config): the first max_tag_items items of a tag list count,
    and a value over max_field_bytes is refused, as ExampleGen refuses it in training."""
    out, _, summary = generated_run
    pushed = summary["pushed_model_dir"]
    cap = rocket_config.DEFAULT_MAX_TAG_ITEMS

    def with_tags(tags: str) -> tf.train.Example:
        example = tf.train.Example()
        example.features.feature["user_id"].bytes_list.value.append(b"100002")
        example.features.feature["tag_brand_list"].bytes_list.value.append(tags.encode())
        return example

    first = [str(i) for i in range(cap)]
    repeated = "|".join(["7"] * 20_000)  # 39,999 bytes: within the field limit
    probabilities = serve(
        pushed,
        [
            with_tags("|".join(first)),
            with_tags("|".join(first + [str(i) for i in range(cap, 5 * cap)])),
            with_tags("|".join(["7"] * cap)),
            with_tags(repeated),
        ],
    )
    assert probabilities[1] == pytest.approx(probabilities[0], abs=1e-6)
    assert probabilities[3] == pytest.approx(probabilities[2], abs=1e-6)
    limit = rocket_config.DEFAULT_MAX_FIELD_BYTES
    assert np.isfinite(serve(pushed, [with_tags("7" * limit)])).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="tag_brand_list.*max_field_bytes"):
        serve(pushed, [with_tags("7" * (limit + 1))])


def test_degraded_second_run_is_not_blessed_and_serving_is_untouched(generated_run):
    """Runs last on the shared output: a light net trained 2 steps and served alone must
    lose to the blessed one. (Blended with the linear baseline, scikit-learn's fit
    whatever the step count, a 2-step net ranks as the baseline does, as well as the
    blessed model: not a degraded model.) It also sets --min-lift-over-linear 0.5, which
    no model here can meet: the gate against the Trainer's linear baseline refuses it
    too, with both AUCs."""
    out, _, first = generated_run
    serving = out / "serving"
    other = (Path(__file__).parent / "data" / "custom_pipeline.config").read_text()
    assert other.count("train_config {") == 1
    unblended = out.parent / "unblended.config"
    unblended.write_text(
        other.replace("train_config {", "train_config {\n  blend_linear_baseline: false")
    )

    def files():
        return {
            str(p.relative_to(serving)): p.read_bytes() for p in serving.rglob("*") if p.is_file()
        }

    before = files()
    result = rocket_run("--rows", "4000", "--train-steps", "2", "--require-push",
                        "--config", str(unblended), "--min-lift-over-linear", "0.5",
                        "--output", str(out), cwd=out.parent)  # fmt: skip
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["blessed"] is False and summary["pushed"] is False
    assert summary["pushed_model_dir"] is None
    assert summary["baseline_light_auc"] == pytest.approx(first["light_auc"], abs=1e-6)
    drop = summary["light_auc"] - first["light_auc"]
    assert any(
        reason.startswith(f"auc changed by {drop:+.4f} against the served model")
        for reason in summary["not_blessed_reasons"]
    ), summary["not_blessed_reasons"]
    lift = summary["light_auc"] - summary["linear_baseline_auc"]
    prefix = "light AUC − linear baseline AUC = "
    (gate,) = [r for r in summary["not_blessed_reasons"] if r.startswith(prefix)]
    # The gate's own AUCs, unrounded: the summary's rounded difference may differ in its
    # last digit.
    assert float(gate[len(prefix) :].split(",")[0]) == pytest.approx(lift, abs=2e-4)
    assert gate.endswith(f", below --min-lift-over-linear 0.5 "
                         f"(linear baseline {summary['linear_baseline_auc']:.4f})")  # fmt: skip
    assert gate in result.stdout
    assert gate in Path(summary["report"]).read_text()
    assert "blessed: False" in result.stdout and "nothing pushed" in result.stdout
    assert files() == before
    assert "not blessed" in Path(summary["report"]).read_text()


def test_run_on_the_real_taobao_sample(taobao_sample, tmp_path):
    result = rocket_run(
        "--data",
        str(taobao_sample.parent),
        "--train-steps",
        "30",
        "--output",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "o" / "run_summary.json").read_text())
    assert summary["train_rows"] + summary["eval_rows"] == 10_000
    assert summary["light_auc"] is not None and summary["booster_auc"] is not None
    assert "light AUC (Evaluator, eval split)" in result.stdout
    assert_log_loss_verdict(summary, result.stdout)


def assert_log_loss_verdict(summary: dict, stdout: str) -> None:
    """The light net's log loss against a constant at the eval click rate: in the
    summary, and a console warning exactly when the constant is better."""
    verdict = summary["log_loss_verdict"]
    assert verdict["log_loss"] == pytest.approx(summary["light_log_loss"], abs=1e-6)
    assert 0.0 < verdict["constant_log_loss"] < 0.7
    worse = verdict["log_loss"] > verdict["constant_log_loss"]
    assert verdict["worse_than_constant"] == worse
    assert (f"WARNING: {verdict['text']}" in stdout) == worse


def test_missing_data_path_is_a_clear_error(tmp_path):
    result = rocket_run(
        "--data", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert f"--data {tmp_path / 'nope.csv'}: no such file or folder" in result.stderr


@pytest.fixture(scope="module")
def custom_split_run(tmp_path_factory):
    """One run for two promises: tests/data/custom_pipeline.config (no share_dnn, groups
    user (8+4+8) and ad (8+8+4+8), light [32] without BatchNorm, num_class 1, EUCLID
    distillation, hashing) on a folder of DIR/train + DIR/eval (rocket convert-taobao's
    time split). Each promise is the run's alone: the other only chooses the input."""
    work = tmp_path_factory.mktemp("custom_split")
    rows = sample_data.generate_rows(3800, seed=5)
    data = work / "converted"
    for split, part in (("train", rows[:3000]), ("eval", rows[3000:])):
        (data / split).mkdir(parents=True)
        (data / split / "part-00000-of-00001.csv").write_text("\n".join(part) + "\n")
    config = Path(__file__).parent / "data" / "custom_pipeline.config"
    result = rocket_run("--data", str(data), "--config", str(config), "--min-auc", "0",
                        "--output", str(work / "o"), cwd=work)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads((work / "o" / "run_summary.json").read_text())


def test_easyrec_config_of_other_shape_pushes_exactly_that_light_net(custom_split_run):
    result, summary = custom_split_run
    assert "[config] note: model_dir has no effect here" in result.stdout
    assert "[Trainer] step 40/40" in result.stdout  # train_config.num_steps
    pushed = summary["pushed_model_dir"]
    shapes = saved_variable_shapes(pushed)
    # Served blended with the linear baseline (rocket_blend), the pushed model also holds
    # the baseline's variables, exactly those of its own export; the rest is the light net.
    assert summary["served"]["light_weight"] < 1.0
    model_dir = Path(summary["model_dir"])
    linear_dir = model_dir.parents[2] / "model_run" / model_dir.parent.name / "linear_baseline"
    for shape in saved_variable_shapes(str(linear_dir)):
        shapes.remove(shape)
    tables = [s for s in shapes if len(s) == 2 and s[1] in (4, 8) and s[0] >= 10]
    dense = sorted(s for s in shapes if s not in tables)
    assert dense == sorted([(48, 32), (32,), (32, 1), (1,)])
    assert {(10, 8), (1000, 8), (10, 4), (51, 4)} <= set(tables)
    assert len(tables) == 7
    model = tf.saved_model.load(pushed)
    out = model.signatures["serving_default"](examples=tf.constant([b""]))
    assert out["logits"].shape == (1, 1)
    assert 0 < float(out["probabilities"][0]) < 1


def test_train_and_eval_folders_are_the_splits(custom_split_run):
    """`rocket run --data DIR` on DIR/train + DIR/eval trains on train/ and evaluates on
    eval/, row for row."""
    result, summary = custom_split_run
    assert "predefined splits train: train/*.csv, eval: eval/*.csv" in result.stdout
    assert (summary["train_rows"], summary["eval_rows"]) == (3000, 800)
    assert summary["pushed"] is True
