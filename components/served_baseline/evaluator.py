"""TFX's Evaluator, told apart a baseline artifact that holds no model.

A Resolver finding nothing hands the Evaluator no baseline at all, and TFX then ignores
the change thresholds (rubber stamp). ServedModelBaseline always produces an artifact (a
container task has its outputs), so on a first run it is empty; this executor drops it
from the inputs, which gives exactly TFX's no-baseline behaviour: the candidate is judged
by its absolute thresholds alone.
"""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import path_utils

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


def holds_saved_model(model_uri: str) -> bool:
    return fileio.exists(f"{path_utils.serving_model_path(model_uri)}/saved_model.pb")


class Executor(tfx_evaluator.Executor):
    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX API)
        baselines = input_dict.get(BASELINE_KEY) or []
        if baselines and not any(holds_saved_model(b.uri) for b in baselines):
            input_dict = {k: v for k, v in input_dict.items() if k != BASELINE_KEY}
        super().Do(input_dict, output_dict, exec_properties)


class BaselineAwareEvaluator(tfx.components.Evaluator):
    """tfx.components.Evaluator with the executor above (same spec, same outputs)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
