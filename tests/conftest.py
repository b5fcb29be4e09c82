"""Shared test setup: Keras 2 for TFT/TFMA, quiet TensorFlow, the real sample the
package ships."""

import gzip
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import pipeline  # noqa: E402,F401  (warning filters)
from pipeline.settings import REAL_SAMPLE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def taobao_sample(tmp_path_factory) -> Path:
    """The shipped real sample, uncompressed, alone in a folder of its own."""
    path = tmp_path_factory.mktemp("taobao_sample") / "taobao_sample.csv"
    with gzip.open(REAL_SAMPLE, "rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path


def local_pipeline_nodes(tmp_path: Path, config=None) -> dict:
    """{node id: node} of create_pipeline with `rocket run`'s kind of settings (module_file,
    local folders under tmp_path), for `config` or the seed's."""
    import rocket_seed

    from pipeline import tfx_pipeline
    from pipeline.settings import PipelineSettings

    settings = PipelineSettings(
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        data_pattern="*.csv",
        serving_dir=str(tmp_path / "serving"),
        config=config or rocket_seed.default_config(),
    )
    return {node.id: node for node in tfx_pipeline.create_pipeline(settings).components}
