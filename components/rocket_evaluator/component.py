"""RocketEvaluator: TFX's Evaluator contract (examples, model, baseline_model -> evaluation,
blessing) plus the Trainer's model_run, whose booster is evaluated in the same pass.

Why not two TFX Evaluators (one for the light net and its baseline, one for the booster):
TFX's Evaluator takes at most two models, so the eval split was read, decoded, sliced
and unbatched twice, in two Beam pipelines, and the booster needed a copy step of its
own (on Kubeflow each is a pod). At 300,000 rows the two Evaluators took 1.95 times the
Trainer's time; one pass shares everything but the metrics themselves.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.rocket_evaluator import executor

MODEL_RUN_KEY = executor.MODEL_RUN_KEY


class RocketEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {
        standard_component_specs.EVAL_CONFIG_KEY: ExecutionParameter(type=tfma.EvalConfig),
        # Bless only when the light AUC is at least the Trainer's linear baseline AUC plus
        # this (the baseline is known only after training, so the executor sets the bound).
        executor.MIN_LIFT_OVER_LINEAR_KEY: ExecutionParameter(type=float, optional=True),
        # The run's AUC thresholds, written into eval_config by the executor (a compiled
        # package's runtime parameters); None: eval_config's own.
        executor.MIN_AUC_KEY: ExecutionParameter(type=float, optional=True),
        executor.MAX_AUC_DROP_KEY: ExecutionParameter(type=float, optional=True),
    }
    INPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        standard_component_specs.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        standard_component_specs.BASELINE_MODEL_KEY: ChannelParameter(
            type=standard_artifacts.Model
        ),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
    }
    OUTPUTS = {
        standard_component_specs.EVALUATION_KEY: ChannelParameter(
            type=standard_artifacts.ModelEvaluation
        ),
        standard_component_specs.BLESSING_KEY: ChannelParameter(
            type=standard_artifacts.ModelBlessing
        ),
    }


class RocketEvaluator(base_beam_component.BaseBeamComponent):
    """Evaluates `model` (the light candidate), `baseline_model` (the served light model;
    an empty artifact on a first run), the booster in `model_run` and the linear baseline
    there (when the Trainer trained one) on the eval split of `examples`, with one TFMA
    EvalConfig whose ModelSpecs are named candidate, baseline, booster and linear_baseline
    (model_names.py). Blesses on the candidate's thresholds only, as TFX's
    Evaluator does: same ModelEvaluation layout, same ModelBlessing properties."""

    SPEC_CLASS = RocketEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        baseline_model: types.BaseChannel,
        model_run: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        min_lift_over_linear: float | None = None,
        min_auc: float | None = None,
        max_auc_drop: float | None = None,
    ):
        super().__init__(
            spec=RocketEvaluatorSpec(
                examples=examples,
                model=model,
                baseline_model=baseline_model,
                model_run=model_run,
                eval_config=eval_config,
                min_lift_over_linear=min_lift_over_linear,
                min_auc=min_auc,
                max_auc_drop=max_auc_drop,
                evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )
