"""EvaluationReport: light vs booster on the same eval data, as Markdown + PNG + JSON.

The light net is what serves; the booster is what it learned from. The report puts their
TFMA metrics side by side (AUC, GAUC, log loss, calibration, per-`pid` AUC), the gap the
light net gave up, the verdict with its reasons, and two plots: ROC curves and a
calibration plot.
"""

# No `from __future__ import annotations`: TFX reads the @component annotations as types.
import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components import RocketEvaluationReport
from components.evaluation_report.report import (
    METRICS_FILE,
    REPORT_FILE,
    collect,
    gate_properties,
    render_markdown,
    render_plots,
    trainer_metrics,
)


@component
def EvaluationReport(  # noqa: N802 (TFX component naming)
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    report: OutputArtifact[RocketEvaluationReport],
) -> None:
    blessed = blessing.get_int_custom_property("blessed") == 1
    properties = gate_properties(blessing.mlmd_artifact)
    data = collect(evaluation.uri, blessed, trainer_metrics(model_run.uri), properties)
    os.makedirs(report.uri, exist_ok=True)
    with open(os.path.join(report.uri, METRICS_FILE), "w") as handle:
        json.dump(data, handle, indent=2)
    with open(os.path.join(report.uri, REPORT_FILE), "w") as handle:
        handle.write(render_markdown(data))
    render_plots(evaluation.uri, report.uri)
