"""What the last run did, read back from ML Metadata: the facts of run_summary.json."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import rocket_blend
import rocket_config
import rocket_tuning
import tensorflow as tf
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.orchestration import metadata
from tfx.utils import path_utils

from components.evaluation_report import report, tfma_results
from components.evaluation_report.report import REPORT_FILE
from components.evaluation_report.report import trainer_metrics as read_trainer_metrics
from components.rocket_evaluator.model_names import BASELINE, BOOSTER, CANDIDATE, LINEAR
from pipeline.component_ids import (
    EVALUATION_REPORT,
    EVALUATOR,
    EXAMPLE_GEN,
    PUSHER,
    STATISTICS_GEN,
    TRAINER,
)

SUMMARY_FILE = "run_summary.json"


def _latest_run_outputs(store: metadata_store.MetadataStore) -> tuple[str, dict]:
    """The newest pipeline_run's output artifacts, keyed by (component, output key)."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        raise RuntimeError("no pipeline run is recorded in the metadata store")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    component_of = {e.id: _node_id(store, e.id) for e in executions}
    outputs = {}
    events = store.get_events_by_execution_ids(list(component_of))
    output_events = [e for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in output_events])}
    for event in output_events:
        key = (component_of[event.execution_id], event.path.steps[0].key)
        artifact = artifacts[event.artifact_id]
        if key not in outputs or artifact.id > outputs[key].id:
            outputs[key] = artifact
    return run.name, outputs


def _node_id(store: metadata_store.MetadataStore, execution_id: int) -> str:
    """The pipeline node (component id) an execution belongs to; its 'node' context is
    named '<pipeline>.<node id>' (two Evaluators share a type, not a node id)."""
    for context in store.get_contexts_by_execution(execution_id):
        if store.get_context_types_by_id([context.type_id])[0].name == "node":
            return context.name.split(".", 1)[-1]
    return ""


def _int_property(artifact, key: str) -> int | None:
    if artifact is None or key not in artifact.custom_properties:
        return None
    return artifact.custom_properties[key].int_value


def _split_rows(statistics_uri: str, split: str) -> int | None:
    path = os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb")
    if not tf.io.gfile.exists(path):
        return None
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
    return int(stats.datasets[0].num_examples) if stats.datasets else None


def summarize(metadata_path: str) -> dict:
    """The run_summary facts of the newest run recorded in the SQLite MLMD at `metadata_path`."""
    config = metadata.sqlite_metadata_connection_config(metadata_path)
    store = metadata_store.MetadataStore(config)
    run_id, outputs = _latest_run_outputs(store)
    summary: dict = {"run_id": run_id}

    examples = outputs.get((EXAMPLE_GEN, "examples"))
    summary["examples_dir"] = examples.uri if examples else None
    statistics = outputs.get((STATISTICS_GEN, "statistics"))
    summary["train_rows"] = _split_rows(statistics.uri, "train") if statistics else None
    summary["eval_rows"] = _split_rows(statistics.uri, "eval") if statistics else None

    model_run = outputs.get((TRAINER, "model_run"))
    trainer_metrics = read_trainer_metrics(model_run.uri) if model_run is not None else {}
    summary["booster_auc"] = trainer_metrics.get("auc_booster")
    summary["trainer_light_auc"] = trainer_metrics.get("auc_light")
    summary["trainer_booster_auc"] = trainer_metrics.get("auc_booster")
    # Which weights the Trainer exported and why training stopped (rocket_training).
    summary["training"] = trainer_metrics.get("training")
    # The logistic regression the Trainer trained beside the nets (train_config
    # linear_baseline): what the light net must beat.
    summary["linear_baseline_auc"] = (trainer_metrics.get("linear_baseline") or {}).get("auc")
    # How it was trained: its kept step, penalties and, on small logs, the C that
    # cross-validation chose for its L2 (l2_cross_validation).
    summary["linear_baseline"] = trainer_metrics.get("linear_baseline")
    # What the light SavedModel serves (rocket_blend): the light net's weight in a blend
    # with the linear baseline, and the Trainer's eval AUC of each net so blended; the
    # Evaluator's light and booster AUCs are of these blends, trainer_*_auc of the nets.
    summary["served"] = trainer_metrics.get("served")

    evaluation = outputs.get((EVALUATOR, "evaluation"))
    by_model = tfma_results.metrics_by_model(evaluation.uri) if evaluation else {}
    light_by_slice = by_model.get(CANDIDATE, {})
    light = light_by_slice.get(tfma_results.OVERALL, {})
    booster = by_model.get(BOOSTER, {}).get(tfma_results.OVERALL, {})
    baseline = by_model.get(BASELINE, {}).get(tfma_results.OVERALL, {})
    # The linear baseline's AUC stays the Trainer's (what --min-lift-over-linear gates
    # on); its GAUC needs the user ids of the raw rows, which only the Evaluator reads.
    summary["linear_baseline_gauc"] = (
        by_model.get(LINEAR, {}).get(tfma_results.OVERALL, {}).get("gauc")
    )
    summary["light_auc"] = light.get("auc")
    summary["light_gauc"] = light.get("gauc")
    summary["booster_auc"] = booster.get("auc", summary["booster_auc"])
    summary["booster_gauc"] = booster.get("gauc")
    summary["baseline_light_auc"] = baseline.get("auc")
    summary["light_log_loss"] = light.get("binary_crossentropy")
    summary["booster_log_loss"] = booster.get("binary_crossentropy")
    summary["light_calibration"] = light.get("calibration")
    summary["eval_example_count"] = light.get("example_count")
    if summary["light_auc"] is not None and summary["booster_auc"] is not None:
        summary["booster_minus_light_auc"] = summary["booster_auc"] - summary["light_auc"]
    summary["light_auc_by_slice"] = {
        name: values.get("auc") for name, values in light_by_slice.items() if name
    }

    blessing = outputs.get((EVALUATOR, "blessing"))
    summary["blessed"] = _int_property(blessing, "blessed") == 1
    summary["not_blessed_reasons"] = (
        []
        if summary["blessed"] or evaluation is None
        else tfma_results.failed_thresholds(evaluation.uri)
    )
    gate = report.linear_gate_reason(
        report.gate_properties(blessing) if blessing else {}, summary["light_auc"]
    )
    if gate and not summary["blessed"]:
        summary["not_blessed_reasons"].append(gate)
    summary["linear_verdict"] = report.linear_verdict_of_run(
        light, trainer_metrics, summary["linear_baseline_gauc"]
    )
    summary["log_loss_verdict"] = report.log_loss_verdict(light)

    pushed = outputs.get((PUSHER, "pushed_model"))
    summary["pushed"] = _int_property(pushed, "pushed") == 1
    summary["pushed_model_dir"] = (
        pushed.custom_properties["pushed_destination"].string_value if summary["pushed"] else None
    )
    report_artifact = outputs.get((EVALUATION_REPORT, "report"))
    summary["report"] = os.path.join(report_artifact.uri, REPORT_FILE) if report_artifact else None
    model = outputs.get((TRAINER, "model"))
    summary["model_dir"] = path_utils.serving_model_dir(model.uri) if model else None
    return summary


def collect_bad_rows(summary: dict, target: Path) -> int:
    """Copy the bad rows ExampleGen set aside (JSON lines) to `target`, replacing what an
    earlier run left there; returns how many there are."""
    if target.exists():
        shutil.rmtree(target)
    source = os.path.join(summary.get("examples_dir") or "", "bad_rows")
    if not summary.get("examples_dir") or not tf.io.gfile.isdir(source):
        return 0
    target.mkdir(parents=True)
    count = 0
    for name in sorted(tf.io.gfile.listdir(source)):
        text = tf.io.gfile.GFile(os.path.join(source, name)).read()
        count += len(text.splitlines())
        (target / name).write_text(text)
    return count


def format_summary(summary: dict) -> str:
    """The closing lines `rocket run` prints: the verdict and where things are."""

    def fmt(value):
        return "n/a" if value is None else f"{value:.4f}"

    baseline = summary["baseline_light_auc"]
    lines = [
        "",
        "Rocket Launching run",
        f"  light AUC (Evaluator, eval split): {fmt(summary['light_auc'])}",
        f"  booster AUC (Evaluator, eval split): {fmt(summary['booster_auc'])}",
        f"  light GAUC / booster GAUC: {fmt(summary['light_gauc'])} / "
        f"{fmt(summary['booster_gauc'])}",
        "  served light AUC (baseline): "
        + ("none (first run)" if baseline is None else fmt(baseline)),
        f"  rows: train {summary['train_rows']}, eval {summary['eval_rows']}",
    ]
    if summary.get("linear_baseline_auc") is not None:
        lines.insert(
            4,
            "  logistic regression, same rows (Trainer's linear baseline): "
            f"{fmt(summary['linear_baseline_auc'])} "
            f"(GAUC {fmt(summary.get('linear_baseline_gauc'))})",
        )
    served = summary.get("served")
    if served:  # after the linear baseline's line, before the GAUCs
        at = next(i for i, line in enumerate(lines) if line.startswith("  light GAUC"))
        what = rocket_blend.describe(served["light_weight"])
        lines[at:at] = [
            f"  the light SavedModel serves: {what} (chosen "
            f"by {served['chosen_by']} on {served['validation_rows']:,} rows; the booster's "
            "AUC above is of it blended the same way)",
            f"  the nets alone (Trainer, eval split): light {fmt(summary['trainer_light_auc'])}, "
            f"booster {fmt(summary['trainer_booster_auc'])}",
        ]
        warning = rocket_blend.no_ranking_warning(served)
        if warning:
            lines.insert(at + 1, f"  WARNING: {warning}")
    training = summary.get("training")
    if training:
        best = training.get("best_validation_auc_light")
        kept = f"  exported the weights of step {training['exported_step']}"
        if best is not None and training["exported_step"] == training.get("best_validation_step"):
            kept += f" (best validation AUC {best:.4f})"
        lines.append(f"{kept}; {training['stop_reason']} at step {training['stopped_at_step']}")
        if training.get("light_trains_share") is not None:
            gradient = rocket_config.GRADIENTS[training["light_trains_share"]]
            lines.append(f"  gradient: {gradient}")
        if training.get("hyperparameters"):
            tuned = rocket_tuning.describe(training["hyperparameters"])
            lines.append(f"  tuned (TFX Tuner, best trial): {tuned}")
    if summary.get("bad_rows"):
        lines.append(f"  bad rows set aside: {summary['bad_rows']} (see bad_rows/)")
    verdict = summary.get("linear_verdict")
    if verdict:
        mark = "" if verdict["light_wins"] else "WARNING: "
        lines.append(f"  {mark}{verdict['text']}")
        if verdict.get("gauc_text"):
            lines.append(f"  WARNING: {verdict['gauc_text']}")
    log_loss = summary.get("log_loss_verdict")
    if log_loss and log_loss["worse_than_constant"]:
        lines.append(f"  WARNING: {log_loss['text']}")
    lines.append(f"  blessed: {summary['blessed']}")
    lines += [f"    - {reason}" for reason in summary.get("not_blessed_reasons") or []]
    lines += [
        f"  pushed: {summary['pushed_model_dir'] or 'nothing pushed'}",
        f"  report: {summary['report']}",
        f"  wall time: {summary['wall_seconds']:.1f}s",
    ]
    return "\n".join(lines)
