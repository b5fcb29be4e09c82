"""Custom TFX components of the Rocket Launching pipeline."""

import os

# TFT and TFMA 1.16 work with Keras 2 only; this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tfx.types.artifact import Artifact  # noqa: E402


class RocketEvaluationReport(Artifact):
    """A folder with report.md, metrics.json, roc.png and calibration.png.

    Defined here because of its type name: TFX's compiler writes a custom type's name as
    the KFP schema title (`<namespace>.<Name>`, one dot) and TFX's container entrypoint
    imports that title as a Python path. `components.RocketEvaluationReport` is this
    class, so the step that receives or produces it finds it in the image.
    """

    TYPE_NAME = "components.RocketEvaluationReport"
