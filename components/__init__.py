"""Custom TFX components of the Rocket Launching pipeline."""

import os

# TFT and TFMA 1.16 work with Keras 2 only; this must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
