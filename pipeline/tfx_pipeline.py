"""create_pipeline(): the one place where the TFX components are wired together."""

from __future__ import annotations

import glob
import hashlib
import json
import os

import rocket_export
import tensorflow_model_analysis as tfma
from rocket_config import RocketConfig
from rocket_preprocessing import CONFIG_KEY
from rocket_tuning import TRIALS_KEY as TUNE_TRIALS_KEY
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components import atomic_pusher
from components.anomalies_gate import AnomaliesGate
from components.config_schema_gen import ConfigSchemaGen
from components.easyrec_example_gen import Column, EasyRecExampleGen
from components.evaluation_report import EvaluationReport
from components.rocket_evaluator import BASELINE, BOOSTER, CANDIDATE, RocketEvaluator
from components.served_baseline import ServedModelBaseline
from pipeline.component_ids import (
    EVALUATION_REPORT,
    EVALUATOR,
    EXAMPLE_GEN,
    PUSHER,
    SCHEMA_GEN,
    SERVED_BASELINE,
    STATISTICS_GEN,
    TRAINER,
)
from pipeline.settings import (
    MODULE_FILE,
    PREPROCESSING_FN,
    RUN_FN,
    TUNER_FN,
    PipelineSettings,
)

# KFP runtime parameters of compiled pipelines (settings.runtime_parameters). TFX's KFP v2
# compiler takes a RuntimeParameter only as a whole execution property, so the training
# steps travel inside the Trainer's TrainArgs JSON, e.g. '{"num_steps": 1000}'.
DATA_ROOT_PARAMETER = "data_root"  # EasyRecExampleGen's input_base
TRAIN_ARGS_PARAMETER = "train_args"  # Trainer's TrainArgs as JSON
# The gate and the bad-row limit: set per run without recompiling (`--param max_auc_drop=…`).
GATE_PARAMETERS = ("min_auc", "max_auc_drop", "min_lift_over_linear")
MAX_BAD_ROWS_PARAMETER = "max_bad_rows"


CODE_FINGERPRINT_KEY = "model_code_sha256"  # in Transform's and Trainer's custom_config


def code_fingerprint(folder: str = os.path.dirname(MODULE_FILE)) -> str:
    """SHA-256 over the names and contents of the module folder's .py files."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(folder, "*.py"))):
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(handle.read() + b"\0")
    return digest.hexdigest()


def _runtime(settings: PipelineSettings, name: str, ptype: type, value):
    """`value`, or in a compiled package a runtime parameter of that name defaulting to it
    (None stays None: an option that is off cannot be switched on at run time)."""
    if not settings.runtime_parameters or value is None:
        return value
    return tfx.dsl.experimental.RuntimeParameter(name=name, ptype=ptype, default=ptype(value))


def _model_spec(name: str, label_field: str, is_baseline: bool = False) -> tfma.ModelSpec:
    return tfma.ModelSpec(
        name=name,
        signature_name="serving_default",
        model_type=tfma.TF_GENERIC,  # a tf.Module export, not a Keras model
        label_key=label_field,
        prediction_key=rocket_export.PROBABILITIES,
        is_baseline=is_baseline,
    )


def eval_config(
    config: RocketConfig,
    min_auc: float | None,
    max_auc_drop: float | None = None,
    min_class_examples: int | None = None,
) -> tfma.EvalConfig:
    """TFMA configuration of the one evaluation: the light candidate, the served light
    model (the baseline, with `max_auc_drop`) and the booster, with the same metrics,
    slices and plots each.

    Only the candidate's MetricsSpec carries thresholds. With `min_auc`, it is blessed
    only when its AUC reaches it; with `max_auc_drop`, also only when its AUC is at most
    that much below the served model's (TFX skips this check on a first run, which has
    none). With `min_class_examples`, also only when the eval split holds at least that
    many clicks and that many non-clicks: the evidence an AUC needs.
    """
    auc_threshold = None
    if min_auc is not None or max_auc_drop is not None:
        auc_threshold = tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_auc})
            if min_auc is not None
            else None,
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -max_auc_drop},
            )
            if max_auc_drop is not None
            else None,
        )
    user_column = config.user_field or None  # GAUC's; none: no GAUC
    gated = _metrics(user_column, auc_threshold, min_class_examples)
    measured = _metrics(user_column, None, None)
    gated_models = [CANDIDATE]
    label = config.label_field
    model_specs = [_model_spec(CANDIDATE, label), _model_spec(BOOSTER, label)]
    if max_auc_drop is not None:
        gated_models.append(BASELINE)
        model_specs.append(_model_spec(BASELINE, label, is_baseline=True))
    return tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[column]) for column in config.slice_fields],
        metrics_specs=[
            tfma.MetricsSpec(metrics=gated, model_names=gated_models),
            tfma.MetricsSpec(metrics=measured, model_names=[BOOSTER]),
        ],
    )


def _metrics(
    user_column: str | None,
    auc_threshold: tfma.MetricThreshold | None,
    min_class_examples: int | None,
) -> list[tfma.MetricConfig]:
    """The report's metrics and plots; the thresholds only where given."""
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(
            class_name="AUC",
            config='{"num_thresholds": 10000}',
            # The gate is the overall AUC; per-pid slices are reported, not gated.
            per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold
                )
            ]
            if auc_threshold
            else [],
        ),
        tfma.MetricConfig(class_name="BinaryCrossentropy"),
        tfma.MetricConfig(class_name="Calibration"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
        tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
        tfma.MetricConfig(class_name="CalibrationPlot"),
    ]
    if min_class_examples:
        evidence = tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_class_examples})
        )
        for class_name in ("EvalPositives", "EvalNegatives"):
            metrics.append(
                tfma.MetricConfig(
                    class_name=class_name,
                    module="rocket_metrics",
                    per_slice_thresholds=[
                        tfma.PerSliceMetricThreshold(
                            slicing_specs=[tfma.SlicingSpec()], threshold=evidence
                        )
                    ],
                )
            )
    if user_column:
        # GAUC groups by user in its own combiner (rocket_metrics), not with TFMA's
        # query_key, whose GroupByKey of whole extracts was most of the Evaluator's time.
        metrics.append(
            tfma.MetricConfig(
                class_name="GAUC",
                module="rocket_metrics",
                config=json.dumps({"user_key": user_column}),
            )
        )
    return metrics


def create_pipeline(settings: PipelineSettings) -> tfx.dsl.Pipeline:
    """The whole pipeline. Transform, Tuner and Trainer name the module's functions by
    import path (model_code/ is installed as top-level modules): TFX would otherwise
    build a wheel of model_code/ when compiling and pip-install it into a temporary
    folder in each of them (3 s each here), and a compiled package must not write under
    its pipeline root at compile time (settings.module_in_image). Only a module file
    other than the installed one is handed over as `module_file`."""
    config = settings.config
    custom_config = {CONFIG_KEY: config.to_json()}
    # Transform gets only what preprocessing reads: a model or training change keeps its
    # cache (RocketConfig.for_transform).
    transform_config = {CONFIG_KEY: config.for_transform().to_json()}
    input_base: str | tfx.dsl.experimental.RuntimeParameter = settings.data_root
    train_args: tfx.proto.TrainArgs | tfx.dsl.experimental.RuntimeParameter = tfx.proto.TrainArgs(
        num_steps=config.train.train_steps
    )
    if settings.runtime_parameters:
        input_base = tfx.dsl.experimental.RuntimeParameter(
            name=DATA_ROOT_PARAMETER, ptype=str, default=settings.data_root
        )
        train_args = tfx.dsl.experimental.RuntimeParameter(
            name=TRAIN_ARGS_PARAMETER,
            ptype=str,
            default=json.dumps({"num_steps": config.train.train_steps}),
        )
    if settings.module_in_image or settings.module_file == MODULE_FILE:
        transform_code = {"preprocessing_fn": PREPROCESSING_FN}
        trainer_code = {"run_fn": RUN_FN}
        tuner_code = {"tuner_fn": TUNER_FN}
        if not settings.module_in_image:
            # TFX's cache keys on the functions' names only: the code's own fingerprint
            # makes an edit of model_code/ rerun Transform and Trainer, as a module_file
            # (whose wheel is named by the folder's hash) would.
            fingerprint = {CODE_FINGERPRINT_KEY: code_fingerprint()}
            custom_config = {**custom_config, **fingerprint}
            transform_config = {**transform_config, **fingerprint}
    else:
        transform_code = trainer_code = tuner_code = {"module_file": settings.module_file}

    columns = [Column(f.name, f.type) for f in config.input_fields]
    columns_json = json.dumps([[c.name, c.type] for c in columns])
    example_gen = EasyRecExampleGen(
        input_base=input_base,
        pattern=settings.data_pattern,
        columns=columns,
        separator=config.separator,
        label_field=config.label_field,
        eval_fraction=settings.eval_fraction,
        max_bad_rows=_runtime(settings, MAX_BAD_ROWS_PARAMETER, int, settings.max_bad_rows),
        splits=settings.data_splits,
        max_field_bytes=config.max_field_bytes,
    ).with_id(EXAMPLE_GEN)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"]).with_id(
        STATISTICS_GEN
    )
    # The schema is the configuration's contract, not inferred from the data it checks:
    # all features VarLen (any may be missing from a row), types and label domain fixed.
    schema_gen = ConfigSchemaGen(columns=columns_json, label_field=config.label_field).with_id(
        SCHEMA_GEN
    )
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        custom_config=transform_config,
        disable_statistics=True,  # StatisticsGen already describes the raw data
        **transform_code,
    )
    transform.add_upstream_node(anomalies_gate)  # no Transform on data that breaks the contract
    # Optional search before training: the Trainer then trains with the best trial's
    # hyperparameters (rocket_tuning; trials score on the train split's validation rows).
    tuner = None
    if settings.tune_trials:
        tuner = tfx.components.Tuner(
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            train_args=train_args,
            eval_args=tfx.proto.EvalArgs(),
            custom_config={**custom_config, TUNE_TRIALS_KEY: settings.tune_trials},
            **tuner_code,
        )
    # With Vertex training, the extension's Trainer starts a Vertex AI custom job (its
    # worker pool sets TF_CONFIG, and run_fn trains under MultiWorkerMirroredStrategy).
    trainer_class = tfx.components.Trainer
    trainer_config = custom_config
    if settings.vertex_training:
        trainer_class = tfx.extensions.google_cloud_ai_platform.Trainer
        trainer_config = {**custom_config, **settings.vertex_training}
    trainer = trainer_class(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=train_args,
        eval_args=tfx.proto.EvalArgs(),
        custom_config=trainer_config,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        **trainer_code,
    ).with_id(TRAINER)
    # The baseline the candidate must not fall behind: the light model serving holds now.
    # A plain step rather than TFX's Resolver, which compiles into `resolver` executors
    # that open-source Kubeflow Pipelines refuses (components/served_baseline).
    served_baseline = ServedModelBaseline(
        serving_dir=settings.serving_dir, candidate=trainer.outputs["model"]
    ).with_id(SERVED_BASELINE)
    # The light candidate, the served baseline and the booster in one pass over the
    # eval split; the gate is the candidate's (components/rocket_evaluator).
    evaluator = RocketEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=served_baseline.outputs["baseline"],
        model_run=trainer.outputs["model_run"],
        eval_config=eval_config(
            config,
            settings.min_auc,
            settings.max_auc_drop,
            min_class_examples=settings.min_class_examples,
        ),
        **{
            name: _runtime(settings, name, float, getattr(settings, name))
            for name in GATE_PARAMETERS
        },
    ).with_id(EVALUATOR)
    report = EvaluationReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model_run=trainer.outputs["model_run"],
    ).with_id(EVALUATION_REPORT)
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=settings.serving_dir)
        ),
        # Stage, then rename: serving never sees a half-copied version.
        custom_executor_spec=executor_spec.ExecutorClassSpec(atomic_pusher.Executor),
    ).with_id(PUSHER)
    metadata_config = (
        tfx.orchestration.metadata.sqlite_metadata_connection_config(settings.metadata_path)
        if settings.metadata_path
        else None
    )
    return tfx.dsl.Pipeline(
        pipeline_name=settings.pipeline_name,
        pipeline_root=settings.pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            anomalies_gate,
            transform,
            *([tuner] if tuner else []),
            trainer,
            served_baseline,
            evaluator,
            report,
            pusher,
        ],
        enable_cache=settings.enable_cache,
        metadata_connection_config=metadata_config,
        beam_pipeline_args=list(settings.beam_pipeline_args),
    )
