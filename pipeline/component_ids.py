"""The ids of the pipeline's steps that other modules look up: the TFX component ids that
create_pipeline gives them, which are also the task names of a compiled package and the
node ids in ML Metadata. TensorFlow-free, so the CLI imports it cheaply."""

EXAMPLE_GEN = "EasyRecExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"  # our ConfigSchemaGen, under the id of the step it replaces
TRAINER = "Trainer"
SERVED_BASELINE = "ServedModelBaseline"
EVALUATOR = "Evaluator"  # our RocketEvaluator, under the id of the step it replaces
EVALUATION_REPORT = "EvaluationReport"
PUSHER = "Pusher"
