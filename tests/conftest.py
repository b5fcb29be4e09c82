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


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 protocol server on loopback (moto's server mode, in this process) for the
    s3:// / minio:// tests; yields its URL. Any credentials are accepted."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """This process's boto3 pointed at the loopback S3 (as a pod's environment would be)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "minio123")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint
