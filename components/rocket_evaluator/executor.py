"""The RocketEvaluator's executor: one Beam pipeline, one read of the eval split, TFMA over
the candidate, the baseline (when serving holds one), the booster and the Trainer's linear
baseline (when it trained one), its metrics computed on batches (batched_evaluator)
instead of per example.

Blessing follows TFX's Evaluator executor (tfx/components/evaluator/executor.py): the
ModelBlessing gets the same custom properties and BLESSED / NOT_BLESSED file, from TFMA's
validation result. Only the candidate's MetricsSpec carries thresholds (tfx_pipeline
builds it so), so the booster's and the linear baseline's numbers never decide.
"""

from __future__ import annotations

import os

import apache_beam as beam
import tensorflow_model_analysis as tfma
from absl import logging
from rocket_export import BOOSTER_DIR, LINEAR_DIR
from tfx.components.evaluator import constants
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils, proto_utils

from components.rocket_evaluator.batched_evaluator import (
    BatchedMetricsEvaluator,
    batched_extractors,
)
from components.rocket_evaluator.model_names import (
    BASELINE,
    BOOSTER,
    CANDIDATE,
    LINEAR,
    LINEAR_AUC_PROPERTY,
    MIN_LIFT_PROPERTY,
)

MODEL_RUN_KEY = "model_run"
MIN_LIFT_OVER_LINEAR_KEY = "min_lift_over_linear"
# Runtime values of the EvalConfig's AUC thresholds (KFP runtime parameters of a compiled
# package): the thresholds live inside the EvalConfig proto, which a runtime parameter
# cannot reach, so the executor writes these into it.
MIN_AUC_KEY, MAX_AUC_DROP_KEY = "min_auc", "max_auc_drop"
EVAL_SPLIT = "eval"
_EXAMPLES = standard_component_specs.EXAMPLES_KEY
_MODEL = standard_component_specs.MODEL_KEY
_BASELINE = standard_component_specs.BASELINE_MODEL_KEY


def holds_saved_model(path: str) -> bool:
    return fileio.exists(os.path.join(path, "saved_model.pb"))


def linear_baseline_auc(model_run_uri: str) -> float:
    """The Trainer's linear baseline AUC (model_run's metrics.json, read as the report
    reads it); an error naming the file when it has none (train_config linear_baseline
    false)."""
    from rocket_export import METRICS_FILE

    from components.evaluation_report.report import trainer_metrics

    linear = (trainer_metrics(model_run_uri).get("linear_baseline") or {}).get("auc")
    if linear is None:
        path = os.path.join(model_run_uri, METRICS_FILE)
        raise ValueError(
            f"--min-lift-over-linear needs the Trainer's linear baseline, and {path} has "
            "none: set train_config linear_baseline true (the default) or drop the option"
        )
    return float(linear)


def raise_auc_floor(eval_config: tfma.EvalConfig, floor: float) -> None:
    """The candidate's overall AUC must reach `floor` as well as any lower bound it has:
    the gated MetricsSpec's AUC threshold gets lower bound max(bound, floor)."""
    for metrics_spec in eval_config.metrics_specs:
        if CANDIDATE not in metrics_spec.model_names:
            continue
        for metric in metrics_spec.metrics:
            if metric.class_name != "AUC":
                continue
            if not metric.per_slice_thresholds:
                metric.per_slice_thresholds.add().slicing_specs.add()
            bounds = metric.per_slice_thresholds[0].threshold.value_threshold
            current = bounds.lower_bound.value if bounds.HasField("lower_bound") else None
            bounds.lower_bound.value = floor if current is None else max(current, floor)
            return
    raise ValueError("the eval config has no AUC metric for the candidate to gate")


def _candidate_auc_threshold(eval_config: tfma.EvalConfig):
    for metrics_spec in eval_config.metrics_specs:
        if CANDIDATE not in metrics_spec.model_names:
            continue
        for metric in metrics_spec.metrics:
            if metric.class_name == "AUC":
                if not metric.per_slice_thresholds:
                    metric.per_slice_thresholds.add().slicing_specs.add()
                return metric.per_slice_thresholds[0].threshold
    raise ValueError("the eval config has no AUC metric for the candidate to gate")


def set_auc_thresholds(
    eval_config: tfma.EvalConfig, min_auc: float | None, max_auc_drop: float | None
) -> None:
    """Writes the run's `min_auc` (the candidate's AUC lower bound) and `max_auc_drop`
    (how far below the served model's AUC it may be) into the EvalConfig, in place. A drop
    needs the comparison with the served model compiled in (a baseline ModelSpec)."""
    threshold = _candidate_auc_threshold(eval_config)
    if min_auc is not None:
        threshold.value_threshold.lower_bound.value = float(min_auc)
    if max_auc_drop is not None:
        if not any(spec.is_baseline for spec in eval_config.model_specs):
            raise ValueError(
                f"max_auc_drop {max_auc_drop}: this package was compiled without the "
                "comparison with the served model"
            )
        change = threshold.change_threshold
        change.direction = tfma.MetricDirection.HIGHER_IS_BETTER
        change.absolute.value = -float(max_auc_drop)


def without_baseline(eval_config: tfma.EvalConfig) -> tfma.EvalConfig:
    """The config for a first run (nothing served): no baseline ModelSpec, no baseline in
    any MetricsSpec, change thresholds dropped (TFX's rubber stamp)."""
    config = tfma.EvalConfig()
    config.CopyFrom(eval_config)
    kept = [spec for spec in config.model_specs if not spec.is_baseline]
    del config.model_specs[:]
    config.model_specs.extend(kept)
    for metrics_spec in config.metrics_specs:
        names = [name for name in metrics_spec.model_names if name != BASELINE]
        del metrics_spec.model_names[:]
        metrics_spec.model_names.extend(names)
    return tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=False, rubber_stamp=True
    )


def with_model_beside(eval_config: tfma.EvalConfig, name: str) -> tfma.EvalConfig:
    """The config with model `name` measured as the booster is (a copy of its ModelSpec
    under that name, added to the booster's MetricsSpecs: no thresholds, never gated)."""
    config = tfma.EvalConfig()
    config.CopyFrom(eval_config)
    booster = next(spec for spec in config.model_specs if spec.name == BOOSTER)
    added = config.model_specs.add()
    added.CopyFrom(booster)
    added.name = name
    for metrics_spec in config.metrics_specs:
        if BOOSTER in metrics_spec.model_names:
            metrics_spec.model_names.append(name)
    return config


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX API)
        candidate = artifact_utils.get_single_instance(input_dict[_MODEL])
        baseline = artifact_utils.get_single_instance(input_dict[_BASELINE])
        model_run = artifact_utils.get_single_instance(input_dict[MODEL_RUN_KEY])
        paths = {
            CANDIDATE: path_utils.serving_model_path(candidate.uri),
            BASELINE: path_utils.serving_model_path(baseline.uri),
            BOOSTER: os.path.join(model_run.uri, BOOSTER_DIR),
            LINEAR: os.path.join(model_run.uri, LINEAR_DIR),
        }
        for name in (CANDIDATE, BOOSTER):
            if not holds_saved_model(paths[name]):
                raise FileNotFoundError(f"no {name} SavedModel in {paths[name]}")

        eval_config = tfma.EvalConfig()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.EVAL_CONFIG_KEY], eval_config
        )
        set_auc_thresholds(
            eval_config, exec_properties.get(MIN_AUC_KEY), exec_properties.get(MAX_AUC_DROP_KEY)
        )
        if holds_saved_model(paths[LINEAR]):  # train_config linear_baseline (the default)
            eval_config = with_model_beside(eval_config, LINEAR)
        min_lift = exec_properties.get(MIN_LIFT_OVER_LINEAR_KEY)
        linear = None
        if min_lift is not None:
            linear = linear_baseline_auc(model_run.uri)
            raise_auc_floor(eval_config, linear + float(min_lift))
            logging.info("Gate: light AUC >= linear baseline %.4f + %g", linear, min_lift)
        # The gate compares with the served model only when configured to (max_auc_drop)
        # and when serving holds one.
        has_baseline = any(spec.is_baseline for spec in eval_config.model_specs)
        has_baseline = has_baseline and holds_saved_model(paths[BASELINE])
        if has_baseline:
            eval_config = tfma.utils.update_eval_config_with_defaults(
                eval_config, has_baseline=True, rubber_stamp=True
            )
        else:  # e.g. a first run: ServedModelBaseline found nothing served
            eval_config = without_baseline(eval_config)
        tfma.utils.verify_eval_config(eval_config)
        models = [
            tfma.default_eval_shared_model(
                eval_saved_model_path=paths[spec.name],
                model_name=spec.name,
                eval_config=eval_config,
            )
            for spec in eval_config.model_specs
        ]
        logging.info(
            "Evaluating %s", {spec.name: paths[spec.name] for spec in eval_config.model_specs}
        )

        examples = input_dict[_EXAMPLES]
        output_uri = artifact_utils.get_single_uri(
            output_dict[standard_component_specs.EVALUATION_KEY]
        )
        tfxio_factory = tfxio_utils.get_tfxio_factory_from_artifact(
            examples=examples,
            telemetry_descriptors=["RocketEvaluator"],
            raw_record_column_name=tfma.constants.ARROW_INPUT_COLUMN,
        )
        with self._make_beam_pipeline() as pipeline:
            reads = [
                pipeline
                | f"Read[{index}]" >> tfxio_factory(io_utils.all_files_pattern(uri)).BeamSource()
                for index, uri in enumerate(artifact_utils.get_split_uris(examples, EVAL_SPLIT))
            ]
            _ = (
                reads
                | "Flatten" >> beam.Flatten()
                | "ExtractEvaluateAndWriteResults"
                >> tfma.ExtractEvaluateAndWriteResults(
                    eval_shared_model=models,
                    eval_config=eval_config,
                    output_path=output_uri,
                    extractors=batched_extractors(eval_config, models),
                    evaluators=[BatchedMetricsEvaluator(eval_config)],
                )
            )

        blessing = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.BLESSING_KEY]
        )
        write_blessing(
            blessing, output_uri, eval_config, candidate, baseline if has_baseline else None
        )
        if linear is not None:
            blessing.set_float_custom_property(MIN_LIFT_PROPERTY, float(min_lift))
            blessing.set_float_custom_property(LINEAR_AUC_PROPERTY, linear)
        if "current_component_id" in exec_properties:
            blessing.set_string_custom_property(
                "component_id", exec_properties["current_component_id"]
            )


def write_blessing(blessing, evaluation_uri: str, eval_config, candidate, baseline) -> None:
    """BLESSED only when TFMA validated the candidate against thresholds; a config without
    any threshold blesses nothing (TFX's Evaluator does not bless it either)."""
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, candidate.uri
    )
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, candidate.id)
    if baseline is not None:
        blessing.set_string_custom_property(
            constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri
        )
        blessing.set_int_custom_property(
            constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id
        )
    has_thresholds = bool(
        tfma.metrics.metric_thresholds_from_metrics_specs(
            eval_config.metrics_specs, eval_config=eval_config
        )
    )
    blessed = has_thresholds and tfma.load_validation_result(evaluation_uri).validation_ok
    name, value = (
        (constants.BLESSED_FILE_NAME, constants.BLESSED_VALUE)
        if blessed
        else (constants.NOT_BLESSED_FILE_NAME, constants.NOT_BLESSED_VALUE)
    )
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY, value)
    logging.info("Blessing result %s written to %s", blessed, blessing.uri)
