"""Shared test setup: Keras 2 for TFT/TFMA, quiet TensorFlow, paths to the shared data."""

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import pipeline  # noqa: E402,F401  (warning filters)

REPO = Path(__file__).resolve().parents[1]
TAOBAO_SAMPLE_DIR = REPO.parent / "shared" / "data" / "taobao_sample"
TAOBAO_SAMPLE = TAOBAO_SAMPLE_DIR / "taobao_sample.csv"


@pytest.fixture
def taobao_sample() -> Path:
    if not TAOBAO_SAMPLE.exists():
        pytest.skip(f"the real Taobao sample is not present at {TAOBAO_SAMPLE}")
    return TAOBAO_SAMPLE
