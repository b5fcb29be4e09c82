"""The names TFMA gives the models of one evaluation (ModelSpec.name, MetricKey.model_name).

TensorFlow-free, so the pipeline, the evaluator, the report and the run summary share them.
"""

CANDIDATE = "candidate"  # the light net of this run: the model the gate judges and pushes
BASELINE = "baseline"  # the light net serving holds now (absent on a first run)
BOOSTER = "booster"  # this run's booster: measured beside the light net, never gated
