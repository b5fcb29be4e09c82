"""Every tunable of a pipeline run in one typed object (the model's own knobs live in
`rocket_config.RocketConfig`, carried inside)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import rocket_config

PIPELINE_NAME = "rocket-launching"
# The gate's and the split's defaults, here once for `rocket run`, `rocket compile`, the
# bench and PipelineSettings.
MIN_AUC = 0.5  # chance: set it for your data
MAX_AUC_DROP = 0.01
MIN_CLASS_EXAMPLES = 20
EVAL_FRACTION = 0.2
MODULE_FILE = str(Path(__file__).resolve().parents[1] / "model_code" / "rocket_module.py")
# The same entry points as MODULE_FILE, by import path (model_code/ is installed as
# top-level modules): what compiled pipelines use, see PipelineSettings.module_in_image.
PREPROCESSING_FN = "rocket_module.preprocessing_fn"
RUN_FN = "rocket_module.run_fn"
TUNER_FN = "rocket_module.tuner_fn"
# 10,000 real Taobao rows, shipped with the package (data/taobao_sample/README.md).
REAL_SAMPLE = Path(__file__).resolve().parent / "data" / "taobao_sample" / "taobao_sample.csv.gz"


@dataclass(frozen=True)
class PipelineSettings:
    pipeline_root: str
    data_root: str  # the folder ExampleGen reads (input_base)
    data_pattern: str  # files under data_root, a glob
    serving_dir: str  # where the Pusher puts blessed light models
    config: rocket_config.RocketConfig
    pipeline_name: str = PIPELINE_NAME
    module_file: str = MODULE_FILE
    min_auc: float = MIN_AUC
    # Bless only if the light AUC is at most this far below the served model's.
    max_auc_drop: float = MAX_AUC_DROP
    # Bless only if the light AUC is at least the Trainer's linear baseline AUC plus this
    # (None: no such gate; the verdict still says when the light net is below it).
    min_lift_over_linear: float | None = None
    # Bless only with at least this many eval clicks and as many non-clicks (an AUC on a
    # few examples is noise).
    min_class_examples: int = MIN_CLASS_EXAMPLES
    eval_fraction: float = EVAL_FRACTION
    # Predefined ((name, pattern under data_root), ...) splits; empty: split by hash with
    # eval_fraction.
    data_splits: tuple[tuple[str, str], ...] = ()
    max_bad_rows: int = 0  # strict: the first malformed row fails the run
    metadata_path: str | None = None  # SQLite MLMD for local runs
    enable_cache: bool = True
    beam_pipeline_args: tuple[str, ...] = field(default_factory=tuple)
    # Compiled (Kubeflow / Vertex) pipelines run in an image that has the project
    # installed. There, Transform and Trainer name their functions by import path
    # (PREPROCESSING_FN, RUN_FN, TUNER_FN above) instead of taking `module_file`: TFX
    # would otherwise build a wheel of model_code/ and write it under pipeline_root
    # (gs://) at compile time.
    module_in_image: bool = False
    # Compiled pipelines only: the data folder and the Trainer's TrainArgs become KFP
    # runtime parameters (DATA_ROOT_PARAMETER, TRAIN_ARGS_PARAMETER in tfx_pipeline), with
    # these settings as defaults, so a run can change them without recompiling.
    runtime_parameters: bool = False
    # Compiled pipelines only: the Trainer becomes TFX's Google Cloud extension Trainer,
    # which runs run_fn as a Vertex AI custom training job; these are the entries it
    # reads from the Trainer's custom_config (kubeflow_compiler.VertexTraining).
    vertex_training: dict | None = None
    # 0: no tuning. Else TFX's Tuner runs this many trials (rocket_tuning: learning rate,
    # embedding regularisation, light widths) before the Trainer, which trains with the
    # best trial's values.
    tune_trials: int = 0
