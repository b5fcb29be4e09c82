"""Pipeline definition, runners and CLI of the Rocket Launching TFX project."""

import os
import warnings

# TFT and TFMA 1.16 work with Keras 2 only; this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# google-api-core warns on import of every Google client that Python 3.10 is old; TFX 1.16
# supports nothing newer, so the warning only buries the pipeline's own output.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
