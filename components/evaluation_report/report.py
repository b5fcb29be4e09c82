"""The evaluation report's content: the numbers (collect), report.md (render_markdown)
and the ROC and calibration plots (render_plots), from the Evaluator's TFMA output."""

from __future__ import annotations

import json
import math
import os

import rocket_blend

from components.evaluation_report import tfma_results
from components.rocket_evaluator.model_names import (
    BASELINE,
    BOOSTER,
    CANDIDATE,
    LINEAR,
    LINEAR_AUC_PROPERTY,
    MIN_LIFT_PROPERTY,
)

REPORT_FILE = "report.md"
METRICS_FILE = "metrics.json"
ROWS = (
    ("AUC", "auc"),
    ("GAUC", "gauc"),
    ("log loss", "binary_crossentropy"),
    ("calibration (mean prediction / mean label)", "calibration"),
    ("mean prediction", "mean_prediction"),
    ("mean label", "mean_label"),
    ("examples", "example_count"),
)


def trainer_metrics(model_run_uri: str) -> dict:
    """The Trainer's metrics.json in its model_run ({} when there is none)."""
    import tensorflow as tf
    from rocket_export import METRICS_FILE as TRAINER_METRICS

    path = os.path.join(model_run_uri, TRAINER_METRICS)
    return json.loads(tf.io.gfile.GFile(path).read()) if tf.io.gfile.exists(path) else {}


# What to try when the light net loses to the logistic regression, in EasyRec's terms.
LINEAR_ADVICE = (
    "the nets memorise ids faster than they learn crosses here: train on more rows, keep "
    "BatchNorm off (use_bn: false, the default), add dropout_ratio 0.1-0.3 to the DNNs, "
    "raise the vocabularies' frequency_threshold, or serve a linear model"
)


def eval_counts(metrics: dict) -> tuple[int, int] | None:
    """(clicks, non-clicks) of the eval split, from a model's TFMA mean label and example
    count (None when either is missing)."""
    rows, mean_label = metrics.get("example_count"), metrics.get("mean_label")
    if rows is None or mean_label is None:
        return None
    clicks = round(mean_label * rows)
    return clicks, round(rows) - clicks


def linear_verdict(
    light_auc: float | None,
    linear_auc: float | None,
    counts: tuple[int, int] | None = None,
    gaucs: tuple[float | None, float | None] = (None, None),
    paired: tuple[float, float] | None = None,
    serves_baseline: bool = False,
) -> dict | None:
    """How the light net's eval AUC compares with the Trainer's linear baseline on the
    same rows: {"lift": light − linear, "light_wins": bool, "auc_standard_error",
    "lift_standard_error", "lift_error_paired", "within_noise", "text": one sentence,
    "gauc_lift", "gauc_text"}; None without both
    AUCs. With both GAUCs (light, linear; the Evaluator's), "gauc_text" says when the
    linear baseline ranks a user's own impressions better, which AUC alone hides: at
    50,000 generated rows the nets led on AUC and trailed on GAUC (docs/benchmarks.md).
    It says so only beyond the light AUC's standard error: a GAUC, taken over the pairs
    within each user only, is known less precisely than the AUC, so a smaller difference
    is noise for certain (a larger one may still be).

    With the eval split's (clicks, non-clicks), the light AUC's standard error
    (Hanley-McNeil) says how precisely the split knows it. A lift within one standard
    error is reported as such rather than diagnosed: on the 10,000 real rows (~100 eval
    clicks, ±0.03) the verdict had blamed memorisation for a 0.003 difference. The error
    of one AUC is a conservative scale for a difference of two AUCs on the same rows
    (correlated models differ by less; DeLong et al. 1988), so "within" says the split
    cannot show a difference, not that there is none. So when the Trainer measured the
    difference exactly on the same eval rows with its own, paired, standard error
    (`paired`: (lift, error), rocket_metrics.paired_auc_difference) the AUC lift is that
    and judged by that error: the two AUCs quoted come from 10,000-threshold curves (the
    Evaluator's and the Trainer's), whose difference is off by up to ~0.001, as much as
    such an error. The GAUC's lift stays judged by the single AUC's error (a GAUC knows
    less than an AUC). `serves_baseline`: the light model is the linear baseline alone
    (rocket_blend gave the light net weight 0), said as such rather than compared."""
    if light_auc is None or linear_auc is None:
        return None
    import rocket_metrics

    lift = light_auc - linear_auc
    error = rocket_metrics.auc_standard_error(light_auc, *counts) if counts else float("nan")
    is_paired = paired is not None and all(math.isfinite(v) for v in paired)
    lift_error = error
    if is_paired:
        lift, lift_error = paired
    if serves_baseline:
        lift = 0.0
    within = serves_baseline or (math.isfinite(lift_error) and abs(lift) <= lift_error)
    both = f"({light_auc:.4f} vs {linear_auc:.4f}"
    if is_paired:
        both += f"; the difference's standard error ±{lift_error:.4f}, paired on the same rows)"
    else:
        both += f"; one standard error ±{error:.3f})" if math.isfinite(error) else ")"
    if serves_baseline:
        text = (f"the light model serves the logistic regression alone (the validation rows "
                f"gave the light net no weight), so it ranks the eval rows as the baseline "
                f"does (AUC {light_auc:.4f}; by the baseline's own measure "
                f"{linear_auc:.4f})")  # fmt: skip
    elif within:
        text = (f"the light net and the logistic regression on the same rows differ by "
                f"{lift:+.4f} AUC {both}, within the noise of an eval split with "
                f"{counts[0]:,} clicks: it cannot tell them apart; "
                "measure on more rows, e.g. `rocket bench --only quality-at-size --data DIR "
                "--folds 5`")  # fmt: skip
    elif lift > 0:
        text = (f"the light net beats the logistic regression on the same rows by "
                f"{lift:+.4f} AUC {both}")  # fmt: skip
    else:
        text = (f"the light net is {-lift:.4f} AUC below the logistic regression on the same "
                f"rows {both}: {LINEAR_ADVICE}")  # fmt: skip
    light_gauc, linear_gauc = gaucs
    gauc_lift = gauc_text = None
    if light_gauc is not None and linear_gauc is not None:  # alike when serves_baseline
        gauc_lift = light_gauc - linear_gauc
        noise = error if math.isfinite(error) else 0.0
        if gauc_lift < -noise and not serves_baseline:
            beyond = f", beyond the AUC's standard error ±{error:.3f}" if noise else ""
            gauc_text = (f"the logistic regression ranks a user's own impressions better than "
                         f"the light net: GAUC {linear_gauc:.4f} against {light_gauc:.4f} "
                         f"({gauc_lift:+.4f}{beyond}); where ads are ranked for one user at a time "
                         "this is the figure that counts: train on more rows, or measure "
                         "the seeds' spread with `rocket bench --only quality-at-size "
                         "--data DIR` before serving the nets")  # fmt: skip
    return {
        "lift": round(lift, 6),
        "light_wins": lift > 0,
        "auc_standard_error": round(error, 4) if math.isfinite(error) else None,
        "lift_standard_error": round(lift_error, 4) if math.isfinite(lift_error) else None,
        "lift_error_paired": is_paired,
        "within_noise": within,
        "text": text,
        "gauc_lift": None if gauc_lift is None else round(gauc_lift, 6),
        "gauc_text": gauc_text,
    }


def linear_verdict_of_run(
    light: dict, trainer: dict | None, linear_gauc: float | None
) -> dict | None:
    """linear_verdict for a run, from the Evaluator's overall metrics of the light model
    (`light`), the Trainer's metrics.json (its linear baseline's AUC and, when the light
    model is the served blend, the lift's paired error) and the linear baseline's GAUC:
    what report.md and run_summary.json both say."""
    trainer = trainer or {}
    served = trainer.get("served") or {}
    lift = served.get("auc_light_minus_linear")
    error = served.get("auc_light_minus_linear_standard_error")
    return linear_verdict(
        light.get("auc"),
        (trainer.get("linear_baseline") or {}).get("auc"),
        eval_counts(light),
        gaucs=(light.get("gauc"), linear_gauc),
        paired=None if lift is None or error is None else (lift, error),
        serves_baseline=served.get("light_weight") == 0,
    )


def log_loss_verdict(metrics: dict) -> dict | None:
    """The light net's eval log loss against a constant prediction at the eval split's
    click rate (the entropy of that rate): {"log_loss", "constant_log_loss",
    "worse_than_constant", "text"}; None without TFMA's log loss and mean label. AUC only
    ranks: on the real sample's 8,000 train rows the kept check predicted probabilities
    down to 1e-7 (log loss 0.54 where the constant has 0.21) and still ranked near chance,
    with nothing in the verdict saying that its probabilities are unusable as click
    rates."""
    log_loss, rate = metrics.get("binary_crossentropy"), metrics.get("mean_label")
    if log_loss is None or rate is None or not 0 < rate < 1:
        return None
    constant = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    worse = log_loss > constant
    text = (f"the light net's eval log loss is {log_loss:.4f} against {constant:.4f} for a "
            f"constant prediction at the eval click rate ({rate:.4f})")  # fmt: skip
    if worse:
        text += (": its probabilities are overconfident and not usable as click rates "
                 "(bids, expected clicks); train on more rows, raise "
                 "embedding_regularization, or calibrate them before use")  # fmt: skip
    return {
        "log_loss": round(log_loss, 6),
        "constant_log_loss": round(constant, 6),
        "worse_than_constant": worse,
        "text": text,
    }


def gate_properties(blessing) -> dict:
    """The --min-lift-over-linear gate's custom properties of a ModelBlessing's MLMD
    artifact (a TFX artifact's `mlmd_artifact`), {} when the gate was not set."""
    properties = blessing.custom_properties
    return {
        key: properties[key].double_value
        for key in (MIN_LIFT_PROPERTY, LINEAR_AUC_PROPERTY)
        if key in properties
    }


def linear_gate_reason(blessing_properties: dict, light_auc: float | None) -> str | None:
    """The reason the --min-lift-over-linear gate refused the light model, from the
    blessing's custom properties (the RocketEvaluator records the gate there); None
    when there is no such gate or the model passed it."""
    floor = blessing_properties.get(MIN_LIFT_PROPERTY)
    linear = blessing_properties.get(LINEAR_AUC_PROPERTY)
    if floor is None or linear is None or light_auc is None or light_auc >= linear + floor:
        return None
    return (f"light AUC − linear baseline AUC = {light_auc - linear:+.4f}, below "
            f"--min-lift-over-linear {floor:g} (linear baseline {linear:.4f})")  # fmt: skip


def collect(evaluation_uri: str, blessed: bool, trainer: dict | None = None,
            blessing_properties: dict | None = None) -> dict:  # fmt: skip
    """The report's numbers, from the Evaluator's output (all three models) and the
    Trainer's metrics (its linear baseline)."""
    by_model = tfma_results.metrics_by_model(evaluation_uri)
    light = by_model.get(CANDIDATE, {})
    linear_tfma = by_model.get(LINEAR, {}).get(tfma_results.OVERALL, {})
    baseline = by_model.get(BASELINE, {})
    booster = by_model.get(BOOSTER, {})
    overall = tfma_results.OVERALL
    data = {
        "light": light.get(overall, {}),
        "booster": booster.get(overall, {}),
        "baseline_light": baseline.get(overall, {}) or None,
        "light_by_slice": {k: v for k, v in light.items() if k != overall},
        "booster_by_slice": {k: v for k, v in booster.items() if k != overall},
        "blessed": blessed,
        "not_blessed_reasons": [] if blessed else tfma_results.failed_thresholds(evaluation_uri),
        "linear_baseline": (trainer or {}).get("linear_baseline"),
        "linear_baseline_gauc": linear_tfma.get("gauc"),
        # What the light SavedModel serves (rocket_blend) and the nets alone.
        "served": (trainer or {}).get("served"),
        "nets_alone": {net: (trainer or {}).get(f"auc_{net}") for net in ("light", "booster")},
    }
    gate = linear_gate_reason(blessing_properties or {}, data["light"].get("auc"))
    if gate and not blessed:
        data["not_blessed_reasons"].append(gate)
    data["linear_verdict"] = linear_verdict_of_run(
        data["light"], trainer, data["linear_baseline_gauc"]
    )
    data["log_loss_verdict"] = log_loss_verdict(data["light"])
    for metric in ("auc", "gauc"):
        if metric in data["light"] and metric in data["booster"]:
            data[f"booster_minus_light_{metric}"] = data["booster"][metric] - data["light"][metric]
    return data


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer() and abs(value) > 10:
        return f"{int(value)}"
    return f"{value:.4f}"


def _sentence(text: str) -> str:
    """A verdict's text (lower-case, as the console prints it) as a sentence of report.md."""
    return f"{text[0].upper()}{text[1:]}."


def render_markdown(data: dict) -> str:
    baseline = data["baseline_light"]
    lines = ["# Rocket Launching evaluation", ""]
    verdict = "**blessed** and pushed" if data["blessed"] else "**not blessed** (nothing pushed)"
    lines += [f"Light (serving) model: {verdict}.", ""]
    for reason in data["not_blessed_reasons"]:
        lines.append(f"- {reason}")
    if not data["blessed"]:
        lines.append("")
    served = data.get("served")
    if served:
        alone = data.get("nets_alone") or {}
        lines += [
            f"The light (serving) model is {rocket_blend.describe(served['light_weight'])}, "
            f"chosen by {served['chosen_by']} on {served['validation_rows']:,} validation "
            "rows; the booster is measured blended the same way. The nets alone (Trainer, "
            f"eval split): light AUC {_fmt(alone.get('light'))}, booster AUC "
            f"{_fmt(alone.get('booster'))}.",
            "",
        ]
        warning = rocket_blend.no_ranking_warning(served)
        if warning:
            lines += [f"**Warning:** {warning}.", ""]
    header = "| metric | light (serving) | booster | booster − light |"
    divider = "|---|---|---|---|"
    if baseline:
        header += " served light (baseline) |"
        divider += "---|"
    lines += [header, divider]
    for label, key in ROWS:
        light, booster = data["light"].get(key), data["booster"].get(key)
        gap = booster - light if light is not None and booster is not None else None
        row = f"| {label} | {_fmt(light)} | {_fmt(booster)} | {_fmt(gap)} |"
        if baseline:
            row += f" {_fmt(baseline.get(key))} |"
        lines.append(row)
    linear = data.get("linear_baseline")
    if linear:
        light = data["light"].get("auc")
        versus = "" if light is None else f"; light − linear: {light - linear['auc']:+.4f}"
        linear_gauc = data.get("linear_baseline_gauc")
        gauc_text = "" if linear_gauc is None else f" (GAUC {_fmt(linear_gauc)})"
        fit_by = linear.get("fit_by", "the training loop")  # metrics.json's linear_baseline
        if fit_by == "the training loop":
            how = f"same rows and training loop, kept step {linear['exported_step']}"
        else:
            how = f"fit by {fit_by}"
        lines += [
            "",
            f"Logistic regression over the same ids and tag tokens (the Trainer's linear "
            f"baseline, {how}): "
            f"AUC {_fmt(linear['auc'])}{gauc_text} on the eval split{versus}. The nets are worth "
            "serving where they beat it.",
        ]
        verdict = data.get("linear_verdict")
        if verdict:
            mark = "" if verdict["light_wins"] else "**Warning:** "
            lines += ["", mark + _sentence(verdict["text"])]
            if verdict.get("gauc_text"):
                lines += ["", "**Warning:** " + _sentence(verdict["gauc_text"])]
    log_loss = data.get("log_loss_verdict")
    if log_loss and log_loss["worse_than_constant"]:
        lines += ["", "**Warning:** " + _sentence(log_loss["text"])]
    if data["light_by_slice"]:
        lines += [
            "",
            "AUC by slice:",
            "",
            "| slice | light | booster | examples |",
            "|---|---|---|---|",
        ]
        for name in sorted(data["light_by_slice"]):
            light = data["light_by_slice"][name]
            booster = data["booster_by_slice"].get(name, {})
            lines.append(
                f"| {name} | {_fmt(light.get('auc'))} | {_fmt(booster.get('auc'))} "
                f"| {_fmt(light.get('example_count'))} |"
            )
    lines += ["", "![ROC curves](roc.png)", "", "![Calibration](calibration.png)", ""]
    lines += [
        "GAUC is the AUC per user weighted by the user's impressions; users whose "
        "impressions are all clicks or all non-clicks are skipped.",
        "",
    ]
    return "\n".join(lines)


def render_plots(evaluation_uri: str, directory: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    for name, model in (("light (serving)", CANDIDATE), ("booster", BOOSTER)):
        fpr, tpr = tfma_results.roc_curve(evaluation_uri, model)
        if fpr:
            axis.plot(fpr, tpr, label=name)
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, eval split")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(os.path.join(directory, "roc.png"), dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(5, 5))
    top = 0.0
    for name, model in (("light (serving)", CANDIDATE), ("booster", BOOSTER)):
        rows = tfma_results.calibration(evaluation_uri, model)
        if rows:
            predicted, observed, counts = zip(*rows)
            axis.scatter(predicted, observed, s=[max(4, 60 * c / max(counts)) for c in counts],
                         label=name, alpha=0.7)  # fmt: skip
            top = max(top, max(predicted), max(observed))
    top = top or 1.0
    axis.plot([0, top], [0, top], linestyle=":", color="grey", label="perfect calibration")
    axis.set(xlabel="mean predicted click probability", ylabel="observed click rate",
             title="Calibration, eval split (dot size: examples)")  # fmt: skip
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(os.path.join(directory, "calibration.png"), dpi=100)
    plt.close(figure)
