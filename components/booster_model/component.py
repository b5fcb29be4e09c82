"""BoosterModel: model_run/booster -> a Model artifact (Format-Serving layout).

TFX's Evaluator takes at most a candidate and a baseline, both Model artifacts. The
booster is not served, so the Trainer keeps it in model_run; this step gives it the Model
layout so a second Evaluator computes the booster's metrics on the same eval data with
the same TFMA configuration as the light net's.
"""

# No `from __future__ import annotations`: TFX reads the @component annotations as types.
import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.utils import io_utils

BOOSTER_DIR = "booster"  # rocket_module.BOOSTER_DIR
SERVING_DIR = "Format-Serving"


@tfx.dsl.components.component
def BoosterModel(  # noqa: N802 (TFX component naming)
    model_run: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelRun],
    booster: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Model],
) -> None:
    source = os.path.join(model_run.uri, BOOSTER_DIR)
    if not tf.io.gfile.exists(os.path.join(source, "saved_model.pb")):
        raise FileNotFoundError(f"no booster SavedModel in {source}")
    io_utils.copy_dir(source, os.path.join(booster.uri, SERVING_DIR))
