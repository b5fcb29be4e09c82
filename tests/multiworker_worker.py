"""One worker of tests/test_multiworker.py: runs rocket_module.run_fn as TFX's Trainer would.

Started as its own process with its own TF_CONFIG. The data accessor is TFX's own, built
from an Examples artifact the way the Trainer's GenericExecutor builds it, so the
multi-worker data path is the one a pipeline uses.

usage: python multiworker_worker.py WORK_DIR
WORK_DIR holds transformed/Split-train, transformed/Split-eval (gzipped TFRecords),
transform_fn/ (tft.TFTransformOutput), config.json (RocketConfig) and output/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fn_args_for(work_dir: Path):
    """The Trainer's FnArgs for WORK_DIR, with TFX's own data accessor."""
    from rocket_preprocessing import CONFIG_KEY
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = str(work_dir / "transformed")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    data_accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact(
            [examples], ["Trainer"]
        ),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact(
            [examples], ["Trainer"]
        ),
        data_view_decode_fn=None,
    )
    return fn_args_utils.FnArgs(
        train_files=[str(work_dir / "transformed" / "Split-train" / "*")],
        eval_files=[str(work_dir / "transformed" / "Split-eval" / "*")],
        train_steps=int(os.environ.get("ROCKET_TEST_STEPS", "20")),
        transform_output=str(work_dir / "transform_fn"),
        transform_graph_path=str(work_dir / "transform_fn"),
        serving_model_dir=str(work_dir / "output" / "Format-Serving"),
        model_run_dir=str(work_dir / "output" / "model_run"),
        custom_config={CONFIG_KEY: (work_dir / "config.json").read_text()},
        data_accessor=data_accessor,
    )


def main(work_dir: Path) -> None:
    import rocket_module
    import tensorflow as tf

    fn_args = fn_args_for(work_dir)
    rocket_module.run_fn(fn_args)
    # What TFX's Trainer executor checks on every worker right after run_fn.
    if not tf.io.gfile.exists(fn_args.serving_model_dir):
        raise RuntimeError("run_fn failed to generate model.")
    print("[worker] done", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
