"""One evaluation of the light candidate, the served baseline and the booster."""

from components.rocket_evaluator.component import RocketEvaluator
from components.rocket_evaluator.model_names import BASELINE, BOOSTER, CANDIDATE

__all__ = ["BASELINE", "BOOSTER", "CANDIDATE", "RocketEvaluator"]
