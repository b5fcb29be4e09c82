"""What the last run did, read back from ML Metadata: the facts of run_summary.json."""

from __future__ import annotations

import json
import os

import tensorflow as tf
import tensorflow_model_analysis as tfma
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.orchestration import metadata

SUMMARY_FILE = "run_summary.json"
_METRICS_FILE = "metrics.json"  # written by rocket_module.run_fn into model_run


def _latest_run_outputs(store: metadata_store.MetadataStore) -> tuple[str, dict]:
    """The newest pipeline_run's output artifacts, keyed by (component, output key)."""
    runs = store.get_contexts_by_type("pipeline_run")
    if not runs:
        raise RuntimeError("no pipeline run is recorded in the metadata store")
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    type_names = {t.id: t.name for t in store.get_execution_types()}
    component_of = {e.id: type_names[e.type_id].rsplit(".", 1)[-1] for e in executions}
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


def _overall_metrics(evaluation_uri: str) -> dict[str, float]:
    result = tfma.load_eval_result(evaluation_uri)
    for slice_key, metrics in result.slicing_metrics:
        if slice_key == ():
            values = metrics.get("", {}).get("", {})
            return {
                name: value["doubleValue"]
                for name, value in values.items()
                if isinstance(value, dict) and "doubleValue" in value
            }
    return {}


def _describe_failure(failed) -> str:
    name = failed.metric_key.name
    value = failed.metric_value.double_value.value
    bounds = failed.metric_threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} {value:.4f} is below the lower bound {bounds.lower_bound.value:g}"
    if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
        return f"{name} {value:.4f} is above the upper bound {bounds.upper_bound.value:g}"
    threshold = " ".join(str(failed.metric_threshold).split())
    return f"{name} {value:.4f} fails {threshold}"


def _failed_thresholds(evaluation_uri: str) -> list[str]:
    validation = tfma.load_validation_result(evaluation_uri)
    if validation is None or validation.validation_ok:
        return []
    reasons = [
        _describe_failure(failed)
        for per_slice in validation.metric_validations_per_slice
        for failed in per_slice.failures
    ]
    return reasons or ["the Evaluator did not validate the model"]


def summarize(metadata_path: str) -> dict:
    """The run_summary facts of the newest run recorded in the SQLite MLMD at `metadata_path`."""
    config = metadata.sqlite_metadata_connection_config(metadata_path)
    store = metadata_store.MetadataStore(config)
    run_id, outputs = _latest_run_outputs(store)
    summary: dict = {"run_id": run_id}

    statistics = outputs.get(("StatisticsGen", "statistics"))
    summary["train_rows"] = _split_rows(statistics.uri, "train") if statistics else None
    summary["eval_rows"] = _split_rows(statistics.uri, "eval") if statistics else None

    model_run = outputs.get(("Trainer", "model_run"))
    trainer_metrics = {}
    if model_run is not None:
        path = os.path.join(model_run.uri, _METRICS_FILE)
        if tf.io.gfile.exists(path):
            trainer_metrics = json.loads(tf.io.gfile.GFile(path).read())
    summary["booster_auc"] = trainer_metrics.get("auc_booster")
    summary["trainer_light_auc"] = trainer_metrics.get("auc_light")

    evaluation = outputs.get(("Evaluator", "evaluation"))
    evaluator_metrics = _overall_metrics(evaluation.uri) if evaluation else {}
    summary["light_auc"] = evaluator_metrics.get("auc")
    summary["light_log_loss"] = evaluator_metrics.get("binary_crossentropy")
    summary["eval_example_count"] = evaluator_metrics.get("example_count")

    blessing = outputs.get(("Evaluator", "blessing"))
    summary["blessed"] = _int_property(blessing, "blessed") == 1
    summary["not_blessed_reasons"] = (
        [] if summary["blessed"] or evaluation is None else _failed_thresholds(evaluation.uri)
    )

    pushed = outputs.get(("Pusher", "pushed_model"))
    summary["pushed"] = _int_property(pushed, "pushed") == 1
    summary["pushed_model_dir"] = (
        pushed.custom_properties["pushed_destination"].string_value if summary["pushed"] else None
    )
    model = outputs.get(("Trainer", "model"))
    summary["model_dir"] = os.path.join(model.uri, "Format-Serving") if model else None
    return summary
