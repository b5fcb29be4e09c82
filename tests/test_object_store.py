"""s3:// and minio:// paths: the object store module against a real S3 protocol server on
loopback (moto's server mode, tests/conftest.py), the container entrypoint's mapping to
the launcher's local paths and back, what `rocket compile` writes for a self-hosted
Kubeflow, and the serving folder in S3. The packages themselves run end to end in
tests/test_object_store_packages.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components import object_store
from pipeline import cli, container_entrypoint, kubeflow_compiler
from pipeline.kubeflow_compiler import BeamOptions, CompileError, CompileOptions
from pipeline.package_run.backend_rules import PackageRunError
from pipeline.package_run.launcher import parse_secrets, step_environment

IMAGE = "registry.local/ml/rocket-launching-tfx:0.1.0"


@pytest.fixture
def bucket(s3_env) -> str:
    object_store.make_client().create_bucket(Bucket="mlpipeline")
    yield "mlpipeline"
    object_store.delete_folder("s3://mlpipeline")
    object_store.make_client().delete_bucket(Bucket="mlpipeline")


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


# The object store module --------------------------------------------------------------------


def test_a_folder_goes_up_and_down_as_the_launcher_moves_it(bucket, tmp_path):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "assets").mkdir()  # empty: object stores have no empty folders
    (model / "saved_model.pb").write_bytes(b"\x08\x01")
    (model / "variables" / "variables.index").write_bytes(b"index")
    (model / "BLESSED").write_bytes(b"")  # a zero-byte marker is an object
    keys = object_store.upload(model, "minio://mlpipeline/runs/1/model", last=["saved_model.pb"])
    assert keys[-1] == "runs/1/model/saved_model.pb"  # the file serving looks for, last
    assert sorted(object_store.list_keys("s3://mlpipeline/runs/1/model")) == [
        "runs/1/model/BLESSED",
        "runs/1/model/saved_model.pb",
        "runs/1/model/variables/variables.index",
    ]
    assert object_store.list_keys("s3://mlpipeline/runs/1/mod") == []  # not a prefix match
    back = tmp_path / "back"
    object_store.download("minio://mlpipeline/runs/1/model", back)
    assert tree(back) == tree(model)
    assert not (back / "assets").exists()
    assert object_store.list_folders("s3://mlpipeline/runs/1") == ["model"]


def test_a_missing_bucket_and_a_bad_uri_are_named(s3_env):
    with pytest.raises(object_store.ObjectStoreError, match="s3://no-such-bucket/x: no such"):
        object_store.list_keys("s3://no-such-bucket/x")
    with pytest.raises(object_store.ObjectStoreError, match="--data s3://B/x: not an s3://"):
        object_store.parse_uri("s3://B/x", "--data")


def test_upload_data_and_download_take_s3_paths(bucket, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part-0.csv").write_text("1,0,a\n")
    (data / "notes.md").write_text("not data")
    assert cli._main(["upload-data", str(data), "s3://mlpipeline/data/day1"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "[upload] s3://mlpipeline/data/day1/part-0.csv" in out
    assert "compile with: --data s3://mlpipeline/data/day1" in out
    assert object_store.list_keys("s3://mlpipeline/data") == ["data/day1/part-0.csv"]
    assert cli._main(["download", "minio://mlpipeline/data", str(tmp_path / "got")]) == 0
    assert (tmp_path / "got" / "day1" / "part-0.csv").read_text() == "1,0,a\n"
    assert cli._main(["download", "s3://mlpipeline/nothing", str(tmp_path / "x")]) == 2
    assert "no object there" in capsys.readouterr().err


# The entrypoint: the launcher's local paths for TFX, remote URIs back -------------------------


def executor_input(root: str) -> dict:
    task = f"{root}/rocket-launching/run-1/Trainer/salt"
    return {
        "inputs": {
            "artifacts": {
                "examples": {"artifacts": [{"name": "3", "uri": f"{root}/up/Gen/s/examples"}]},
                "cache": {"artifacts": [{"name": "4", "uri": f"{root}/up/Transform/s/cache"}]},
            },
            "parameterValues": {"num_steps": 2},
        },
        "outputs": {
            "artifacts": {"model": {"artifacts": [{"name": "model", "uri": f"{task}/model"}]}},
            "outputFile": "/minio/mlpipeline/rocket-launching/run-1/Trainer/salt/out.json",
        },
    }


def test_tfx_gets_the_launchers_local_paths_and_the_launcher_gets_remote_uris(tmp_path):
    mount = str(tmp_path / "pod")
    given = executor_input("minio://mlpipeline/v2")
    (tmp_path / "pod/minio/mlpipeline/v2/up/Gen/s/examples").mkdir(parents=True)  # downloaded
    localized = json.loads(json.dumps(given))
    changes = container_entrypoint.localize_object_store_uris(localized, mount)
    assert len(changes) == 3
    model_local = f"{mount}/minio/mlpipeline/v2/rocket-launching/run-1/Trainer/salt/model"
    assert localized["outputs"]["artifacts"]["model"]["artifacts"][0]["uri"] == model_local
    # An input that was an empty folder has no objects: the launcher made nothing; TFX
    # would fail to list it, so it is created empty.
    assert Path(mount, "minio/mlpipeline/v2/up/Transform/s/cache").is_dir()
    # What TFX writes back: local paths in URIs and in metadata.
    written = {
        "artifacts": {
            "model": {
                "artifacts": [{"uri": model_local, "metadata": {"model_path": f"{model_local}/x"}}]
            }
        }
    }
    back = container_entrypoint.remote_executor_output(written, given["outputs"], mount)
    remote = "minio://mlpipeline/v2/rocket-launching/run-1/Trainer/salt/model"
    assert back["artifacts"]["model"]["artifacts"][0] == {
        "uri": remote,
        "metadata": {"model_path": f"{remote}/x"},
    }
    leaked = {"artifacts": {"model": {"artifacts": [{"uri": "/tmp/elsewhere/model"}]}}}
    with pytest.raises(container_entrypoint.LeakedLocalPath, match="skip the upload"):
        container_entrypoint.remote_executor_output(leaked, given["outputs"], mount)


def test_gs_artifacts_reach_tfx_unchanged(tmp_path):
    given = executor_input("gs://bucket/root")
    same = json.loads(json.dumps(given))
    assert container_entrypoint.localize_object_store_uris(same, str(tmp_path)) == []
    assert same == given


def test_the_data_folder_is_copied_into_the_pod_with_the_split_pattern(bucket, tmp_path):
    for name in ("part-0.csv", "part-1.csv", "notes.md", "old/part-9.csv"):
        path = tmp_path / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    object_store.upload(tmp_path / "data", "s3://mlpipeline/data")
    given = {
        "inputs": {
            "parameterValues": {
                "input_base": "minio://mlpipeline/data",
                "input_config": json.dumps({"splits": [{"name": "single", "pattern": "*.csv"}]}),
            }
        }
    }
    mount = str(tmp_path / "pod")
    changes = container_entrypoint.localize_object_store_uris(given, mount)
    local = Path(given["inputs"]["parameterValues"]["input_base"])
    assert local == tmp_path / "pod/minio/mlpipeline/data"
    assert sorted(tree(local)) == ["part-0.csv", "part-1.csv"]
    assert changes == [f"parameter input_base: 2 files of minio://mlpipeline/data at {local}"]
    given["inputs"]["parameterValues"]["input_base"] = "minio://mlpipeline/none"
    with pytest.raises(object_store.ObjectStoreError, match="none: no object there matches"):
        container_entrypoint.localize_object_store_uris(given, mount)


# What `rocket compile` writes for a self-hosted Kubeflow -----------------------------------


def compile_to(tmp_path: Path, **changes) -> tuple[dict, dict]:
    fields = {
        "target": "kubeflow",
        "output": tmp_path / "pipeline.yaml",
        "pipeline_root": "minio://mlpipeline/v2/artifacts",
        "data": "minio://mlpipeline/data",
        "image": IMAGE,
    }
    options = CompileOptions(**{**fields, **changes})
    kubeflow_compiler.compile_pipeline(options)
    documents = list(yaml.safe_load_all(options.output.read_text()))
    return documents[0], (documents[1] if len(documents) > 1 else {})


def test_a_minio_package_gives_the_stock_minio_to_the_steps_that_read_data_or_serving(tmp_path):
    spec, platform = compile_to(tmp_path)
    assert spec["defaultPipelineRoot"] == "minio://mlpipeline/v2/artifacts"
    executors = spec["deploymentSpec"]["executors"]
    with_env = {label for label, e in executors.items() if e.get("container", {}).get("env")}
    assert with_env == {
        "EasyRecExampleGen_executor",
        "ServedModelBaseline_executor",
        "Pusher_executor",
    }
    assert executors["Pusher_executor"]["container"]["env"] == [
        {"name": "AWS_ENDPOINT_URL", "value": "http://minio-service.kubeflow:9000"}
    ]
    secrets = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(secrets) == with_env
    entry = secrets["EasyRecExampleGen_executor"]["secretAsEnv"][0]
    assert entry["secretName"] == "mlpipeline-minio-artifact"
    assert entry["secretNameParameter"] == {"runtimeValue": {"constant": entry["secretName"]}}
    assert {m["envVar"] for m in entry["keyToEnv"]} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    trainer_args = " ".join(executors["Trainer_executor"]["container"]["args"])
    assert "minio://" not in trainer_args  # artifacts are the launcher's: nothing compiled in


def test_an_s3_package_uses_the_pods_identity_unless_given_a_secret(tmp_path):
    roots = {"pipeline_root": "s3://acme-ml/pipelines", "data": "s3://acme-ml/data"}
    spec, platform = compile_to(tmp_path, **roots)
    assert platform == {}  # IRSA / node role: no secret, no endpoint (AWS)
    assert not any(e["container"].get("env") for e in spec["deploymentSpec"]["executors"].values())
    access = kubeflow_compiler.ObjectStoreAccess(endpoint="https://s3.local:9000", secret="keys")
    spec, platform = compile_to(tmp_path, object_store=access, **roots)
    pusher = spec["deploymentSpec"]["executors"]["Pusher_executor"]["container"]
    assert pusher["env"] == [{"name": "AWS_ENDPOINT_URL", "value": "https://s3.local:9000"}]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["Pusher_executor"]["secretAsEnv"][0]["secretName"] == "keys"


DATAFLOW = BeamOptions(runner="DataflowRunner", project="p", region="r", temp_location="gs://b1/t")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"target": "vertex", "output": "p.json"}, "Vertex AI needs a gs:// pipeline root"),
        (
            {"pipeline_root": "gs://b1/r", "data": "gs://b1/d", "serving_dir": "s3://acme-ml/s"},
            "--serving-dir s3://acme-ml/s: .* where only DirectRunner workers see them",
        ),
        (
            {"beam": BeamOptions(runner="PortableRunner", job_endpoint="flink-jobserver:8099")},
            "--beam-runner PortableRunner with --pipeline-root minio://.* DirectRunner workers",
        ),
        ({"pipeline_root": "minio://Bad_Bucket/x"}, "minio://Bad_Bucket/x: not an s3://"),
        (
            {"pipeline_root": "gs://b1/r", "data": "gs://b1/d", "object_store": "secret"},
            "--object-store-secret: only used with s3:// or minio:// paths",
        ),
    ],
)
def test_what_object_store_paths_cannot_be_used_with_is_refused(tmp_path, changes, message):
    changes = dict(changes, output=tmp_path / changes.get("output", "p.yaml"))
    if changes.get("object_store") == "secret":
        changes["object_store"] = kubeflow_compiler.ObjectStoreAccess(secret="keys")
    if "serving_dir" in changes:
        changes["beam"] = DATAFLOW
    with pytest.raises(CompileError, match=message):
        compile_to(tmp_path, **changes)


# The pod's environment under run-package -------------------------------------------------


def test_the_steps_get_the_packages_env_and_secrets_not_this_machines():
    container = {"env": [{"name": "AWS_ENDPOINT_URL", "value": "http://minio-service:9000"}]}
    config = {
        "secretAsEnv": [
            {
                "secretName": "mlpipeline-minio-artifact",
                "keyToEnv": [{"secretKey": "accesskey", "envVar": "AWS_ACCESS_KEY_ID"}],
            }
        ]
    }
    secrets = parse_secrets(["mlpipeline-minio-artifact:accesskey=minio"])
    base = {"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "mine", "AWS_PROFILE": "dev"}
    env = step_environment("Pusher", container, config, secrets, base, None)
    assert env == {
        "PATH": "/bin",
        "AWS_ENDPOINT_URL": "http://minio-service:9000",
        "AWS_ACCESS_KEY_ID": "minio",
    }
    env = step_environment("Pusher", container, config, secrets, base, "http://127.0.0.1:1")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    with pytest.raises(PackageRunError, match='secret "mlpipeline-minio-artifact" not found'):
        step_environment("Pusher", container, config, {}, base, None)
    with pytest.raises(PackageRunError, match="--secret oops: write it as NAME:KEY=VALUE"):
        parse_secrets(["oops"])


# The serving folder in S3 ------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["minio", "s3"])
def test_a_push_to_s3_is_whole_or_nothing_and_the_baseline_finds_it(
    bucket, tmp_path, monkeypatch, scheme
):
    """Both schemes of a self-hosted cluster's store (end to end, the MinIO package's run
    pushes and the s3:// package's degraded run finds that version:
    tests/test_object_store_packages.py)."""
    from components.atomic_pusher import executor as pusher
    from components.served_baseline.component import latest_served_version

    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 1000)
    serving = f"{scheme}://mlpipeline/serving"
    assert latest_served_version(serving) is None
    path, version = pusher.push_atomically(str(model), serving)
    assert path == f"{serving}/{version}"
    assert latest_served_version(serving) == version
    object_store.download(path, tmp_path / "served")
    assert tree(tmp_path / "served") == tree(model)
    assert object_store.list_folders(serving) == [version]  # no staging left

    copied = []

    def copy_then_fail(source, destination, client=None, last=()):
        object_store.upload(model / "variables", f"{destination}/variables")  # half a model
        copied.append(destination)
        raise ConnectionError("endpoint went away")

    monkeypatch.setattr(object_store, "copy_folder", copy_then_fail)
    with pytest.raises(ConnectionError):
        pusher.push_atomically(str(model), serving)
    assert copied and object_store.list_folders(serving) == [version]  # nothing half-pushed
    assert latest_served_version(serving) == version
