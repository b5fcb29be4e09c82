"""Expose the Trainer's booster export as a Model artifact, so TFMA can evaluate it."""

from components.booster_model.component import BoosterModel

__all__ = ["BoosterModel"]
