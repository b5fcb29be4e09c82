"""A self-hosted Kubeflow's object store, end to end: packages compiled with a stock
cluster's MinIO root (minio://) and with an s3:// root run under open-source KFP's rules
(`rocket run-package`: the launcher's download, upload and merge around every step)
against a real S3 protocol server on loopback (moto's server mode). Data goes in with
`rocket upload-data`. The MinIO package's run is blessed and pushes to the store, and the
pushed model is read back and serves. Then the s3:// package, whose serving folder is
that one (the one server answers both schemes), runs degraded (KFP's second run in CI):
it compares against the version read from the store, is not blessed, and the served
objects stay byte for byte what they were. Two runs, not three: a push to either scheme
is the same code (components/object_store.py; tests/test_object_store.py pushes to both
and finds the served version), and what KFP's cache reuses on a rerun is
tests/test_run_package.py's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from package_runs import (
    ROCKET,
    artifact_uris,
    example_gen_fingerprint,
    finish_run,
    outputs_of,
    start_run,
)

from components import object_store
from pipeline import kubeflow_compiler, sample_data
from pipeline.kubeflow_compiler import BeamOptions, CompileOptions, ObjectStoreAccess

IMAGE = "registry.local/ml/rocket-launching-tfx:0.1.0"
MINIO_KEYS = {"accesskey": "minio", "secretkey": "minio123"}  # the cluster's secret
STORES = {
    # A stock Kubeflow: its MinIO default root, the launcher's and the steps' credentials
    # from the mlpipeline-minio-artifact secret. Its run is blessed and pushes.
    "minio": {
        "root": "minio://mlpipeline/v2/artifacts",
        "data": "minio://mlpipeline/data",
        "secret": "mlpipeline-minio-artifact",
        "access": ObjectStoreAccess(),
        "serving": "minio://mlpipeline/v2/artifacts/serving",
    },
    # AWS without IRSA: static keys in a secret of the user's choosing. Its serving folder
    # is the MinIO package's, named by the s3:// scheme: its degraded run meets a served
    # model there.
    "s3": {
        "root": "s3://acme-ml/pipelines",
        "data": "s3://acme-ml/data",
        "secret": "aws-keys",
        "access": ObjectStoreAccess(secret="aws-keys"),
        "serving": "s3://mlpipeline/v2/artifacts/serving",
    },
}


def start_store_run(setup: dict, endpoint: str, *params: str) -> subprocess.Popen:
    # The launcher of an s3:// root uses its own identity (here: this environment's keys).
    options = ["--object-store-endpoint", endpoint]
    options += [f"--secret={setup['secret']}:{key}={value}" for key, value in MINIO_KEYS.items()]
    launcher = {"AWS_ACCESS_KEY_ID": "launcher", "AWS_SECRET_ACCESS_KEY": "launcher-secret"}
    return start_run(
        setup["package"], "kubeflow", setup["local"], *params, options=options, env=launcher
    )


def served_objects(client, serving: str) -> dict[str, bytes]:
    bucket, _ = object_store.parse_uri(serving)
    return {
        key: client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in object_store.list_keys(serving, client)
    }


@pytest.fixture(scope="module")
def runs(s3_endpoint, tmp_path_factory) -> dict[str, dict]:
    import rocket_config
    import rocket_seed

    # As tests/test_run_package.py: 60 fixed steps, so 2 steps is a degraded model.
    config = rocket_config.with_changes(
        rocket_seed.default_config(), **{"train.train_steps": 60}, **rocket_config.FIXED_STEPS
    )
    client = object_store.make_client(
        s3_endpoint, {"aws_access_key_id": "t", "aws_secret_access_key": "t"}
    )
    data_file = tmp_path_factory.mktemp("data") / "sample.csv"
    sample_data.write_sample(data_file, 3000)
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "user"}
    env["AWS_SECRET_ACCESS_KEY"] = "user-secret"
    setups = {}
    for name, store in STORES.items():
        folder = tmp_path_factory.mktemp(name)
        bucket, _ = object_store.parse_uri(store["root"])
        client.create_bucket(Bucket=bucket)
        upload = subprocess.run(
            [ROCKET, "upload-data", str(data_file), store["data"]],
            env=env,
            capture_output=True,
            text=True,
        )
        assert upload.returncode == 0, upload.stderr
        package = kubeflow_compiler.compile_pipeline(
            CompileOptions(
                target="kubeflow",
                output=folder / "pipeline.yaml",
                pipeline_root=store["root"],
                data=store["data"],
                image=IMAGE,
                config=config,
                beam=BeamOptions(direct_running_mode="in_memory"),
                object_store=store["access"],
                serving_dir=store["serving"],
                # The linear-baseline gate, set so that it refuses nothing here: the
                # Evaluator reads the Trainer's metrics.json from the store and records it.
                min_lift_over_linear=-1.0,
            )
        ).path
        setups[name] = {
            **store,
            "package": package,
            "local": folder / "local",
            "client": client,
        }
    minio, s3 = setups["minio"], setups["s3"]
    minio["first"] = finish_run(start_store_run(minio, s3_endpoint), minio["local"])
    minio["served_before"] = served_objects(client, minio["serving"])
    # KFP's degraded second run, from the s3:// package; it also sets a gate threshold at
    # run time (a runtime parameter).
    second = start_store_run(s3, s3_endpoint, "train_steps=2", "max_auc_drop=0.001")
    s3["second"] = finish_run(second, s3["local"])
    return setups


@pytest.mark.slow
def test_first_run_is_blessed_pushes_to_the_object_store_and_the_model_serves(runs, tmp_path):
    import rocket_seed
    import tensorflow as tf

    from components.easyrec_example_gen import Column, RowParser

    minio = runs["minio"]
    result, record = minio["first"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert all(t["state"] == "succeeded" for t in record["tasks"]), record["tasks"]
    assert len(record["tasks"]) == 11
    assert "blessed: True" in result.stdout
    # KFP never calls ExampleGen's driver (tests/test_run_package.py: Vertex AI does); the
    # executor computes the same fingerprint itself.
    log = next(t for t in record["tasks"] if t["name"] == "EasyRecExampleGen")["log"]
    assert "Calculated fingerprint" not in Path(log).read_text(errors="replace")
    assert example_gen_fingerprint(record).startswith("split:single_split,num_files:1,")
    # The run's own artifacts: no baseline served yet; the gate's inputs recorded.
    baseline = outputs_of(record, "ServedModelBaseline")["baseline"][0]["metadata"]
    assert baseline["served_version"] == ""
    blessing_metadata = outputs_of(record, "Evaluator")["blessing"][0]["metadata"]
    assert blessing_metadata["blessed"] == 1
    assert blessing_metadata["min_lift_over_linear"] == -1.0
    assert 0.0 < blessing_metadata["linear_baseline_auc"] < 1.0
    scheme = minio["root"].split("://")[0] + "://"
    # Every artifact MLMD records is in the object store: no pod-local path leaked.
    uris = artifact_uris(record)
    assert uris and all(u.startswith(minio["root"] + "/") for u in uris), uris
    # The zero-byte BLESSED marker made it up (the Pusher downstream pushed because of it).
    blessing = outputs_of(record, "Evaluator")["blessing"][0]["uri"]
    client = minio["client"]
    bucket, key = object_store.parse_uri(f"{blessing}/BLESSED")
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 0
    pushed = outputs_of(record, "Pusher")["pushed_model"][0]["metadata"]
    assert pushed["pushed_destination"] == f"{minio['serving']}/{pushed['pushed_version']}"
    assert pushed["pushed_destination"].startswith(scheme)
    # Read back from the store and served.
    local = tmp_path / "served"
    object_store.download(pushed["pushed_destination"], local, client)
    parser = RowParser([Column(f.name, f.type) for f in rocket_seed.TAOBAO_INPUT_FIELDS])
    rows = sample_data.generate_rows(20, seed=9)
    examples = [parser.parse(r.encode(), "x", i) for i, r in enumerate(rows, 1)]
    model = tf.saved_model.load(str(local))
    probabilities = model.signatures["serving_default"](
        examples=tf.constant([e.SerializeToString() for e in examples])
    )["probabilities"].numpy()
    assert probabilities.shape == (20,) and ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.slow
def test_degraded_second_run_is_not_blessed_and_serving_is_unchanged(runs):
    minio, s3 = runs["minio"], runs["s3"]
    result, record = s3["second"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert all(t["state"] == "succeeded" for t in record["tasks"]), record["tasks"]
    assert len(record["tasks"]) == 11
    assert "blessed: False" in result.stdout and "pushed: nothing" in result.stdout
    # Every artifact of the s3:// package's run is under its own root.
    uris = artifact_uris(record)
    assert uris and all(u.startswith(s3["root"] + "/") for u in uris), uris
    _, first = minio["first"]
    served = outputs_of(first, "Pusher")["pushed_model"][0]["metadata"]["pushed_version"]
    baseline = outputs_of(record, "ServedModelBaseline")["baseline"][0]["metadata"]
    assert baseline["served_version"] == served  # read from the store: what the gate compared
    blessing = outputs_of(record, "Evaluator")["blessing"][0]["metadata"]
    assert blessing["blessed"] == 0 and blessing["min_lift_over_linear"] == -1.0
    assert outputs_of(record, "Pusher")["pushed_model"][0]["metadata"]["pushed"] == 0
    assert served_objects(minio["client"], minio["serving"]) == minio["served_before"]
    # The run's parameter reached the Trainer as parameterValues only (pipeline spec 2.1).
    trainer_input = json.loads(
        (s3["local"] / "runs" / record["run_id"] / "Trainer" / "executor_input.json").read_text()
    )["inputs"]
    assert json.loads(trainer_input["parameterValues"]["train_args"]) == {"num_steps": 2}
    assert "parameters" not in trainer_input
