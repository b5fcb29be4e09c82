"""create_pipeline(): the one place where the TFX components are wired together."""

from __future__ import annotations

import rocket_export
import tensorflow_model_analysis as tfma
from rocket_preprocessing import CONFIG_KEY
from tfx import v1 as tfx

from components.easyrec_example_gen import Column, EasyRecExampleGen
from pipeline.settings import PipelineSettings


def eval_config(label_field: str, min_auc: float) -> tfma.EvalConfig:
    """TFMA on the light (serving) model: bless only when its AUC reaches `min_auc`."""
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                model_type=tfma.TF_GENERIC,  # a tf.Module export, not a Keras model
                label_key=label_field,
                prediction_key=rocket_export.PROBABILITIES,
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="AUC",
                        config='{"num_thresholds": 10000}',
                        threshold=tfma.MetricThreshold(
                            value_threshold=tfma.GenericValueThreshold(
                                lower_bound={"value": min_auc}
                            )
                        ),
                    ),
                    tfma.MetricConfig(class_name="BinaryCrossentropy"),
                    tfma.MetricConfig(class_name="MeanLabel"),
                    tfma.MetricConfig(class_name="MeanPrediction"),
                ]
            )
        ],
    )


def create_pipeline(settings: PipelineSettings) -> tfx.dsl.Pipeline:
    config = settings.config
    custom_config = {CONFIG_KEY: config.to_json()}

    example_gen = EasyRecExampleGen(
        input_base=settings.data_root,
        pattern=settings.data_pattern,
        columns=[Column(f.name, f.type) for f in config.input_fields],
        separator=config.separator,
        label_field=config.label_field,
        eval_fraction=settings.eval_fraction,
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    # VarLen features (no inferred shapes): any feature may be missing from a row.
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
    )
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        module_file=settings.module_file,
        custom_config=custom_config,
        disable_statistics=True,  # StatisticsGen already describes the raw data
    )
    trainer = tfx.components.Trainer(
        module_file=settings.module_file,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.train.train_steps),
        eval_args=tfx.proto.EvalArgs(),
        custom_config=custom_config,
    )
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        eval_config=eval_config(config.label_field, settings.min_auc),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=settings.serving_dir)
        ),
    )
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
            transform,
            trainer,
            evaluator,
            pusher,
        ],
        enable_cache=settings.enable_cache,
        metadata_connection_config=metadata_config,
        beam_pipeline_args=list(settings.beam_pipeline_args),
    )
