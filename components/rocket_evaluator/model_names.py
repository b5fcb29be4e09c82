"""The names TFMA gives the models of one evaluation (ModelSpec.name, MetricKey.model_name).

TensorFlow-free, so the pipeline, the evaluator, the report and the run summary share them.
"""

CANDIDATE = "candidate"  # the light net of this run: the model the gate judges and pushes
BASELINE = "baseline"  # the light net serving holds now (absent on a first run)
BOOSTER = "booster"  # this run's booster: measured beside the light net, never gated
# The Trainer's linear baseline (when it trained one): measured beside, never gated, so
# its GAUC is known as the nets' is (the Trainer itself measures AUC only).
LINEAR = "linear_baseline"

# The ModelBlessing's custom properties of the --min-lift-over-linear gate: the floor on
# light AUC − linear baseline AUC, and the Trainer's linear baseline AUC it was read with.
MIN_LIFT_PROPERTY = "min_lift_over_linear"
LINEAR_AUC_PROPERTY = "linear_baseline_auc"
