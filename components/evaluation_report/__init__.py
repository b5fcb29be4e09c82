"""A report a person can look at: light vs booster metrics, ROC and calibration plots."""

from components.evaluation_report.component import EvaluationReport

__all__ = ["EvaluationReport"]
