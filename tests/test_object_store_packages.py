"""A self-hosted Kubeflow's object store, end to end: packages compiled with a stock
cluster's MinIO root (minio://) and with an s3:// root run under open-source KFP's rules
(`rocket run-package`: the launcher's download, upload and merge around every step)
against a real S3 protocol server on loopback (moto's server mode). Data goes in with
`rocket upload-data`; the first run is blessed and pushes to S3, the pushed model is read
back and serves; a degraded second run of the MinIO package (KFP's second run in CI) is
not blessed and the served objects stay byte for byte what they were."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from package_runs import ROCKET, example_gen_fingerprint, finish_run, outputs_of, start_run

from components import object_store
from pipeline import kubeflow_compiler, sample_data
from pipeline.kubeflow_compiler import BeamOptions, CompileOptions, ObjectStoreAccess

IMAGE = "registry.local/ml/rocket-launching-tfx:0.1.0"
MINIO_KEYS = {"accesskey": "minio", "secretkey": "minio123"}  # the cluster's secret
STORES = {
    # A stock Kubeflow: its MinIO default root, the launcher's and the steps' credentials
    # from the mlpipeline-minio-artifact secret.
    "minio": {
        "root": "minio://mlpipeline/v2/artifacts",
        "data": "minio://mlpipeline/data",
        "secret": "mlpipeline-minio-artifact",
        "access": ObjectStoreAccess(),
    },
    # AWS without IRSA: static keys in a secret of the user's choosing.
    "s3": {
        "root": "s3://acme-ml/pipelines",
        "data": "s3://acme-ml/data",
        "secret": "aws-keys",
        "access": ObjectStoreAccess(secret="aws-keys"),
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
                # The linear-baseline gate, set so that it refuses nothing here: the
                # Evaluator reads the Trainer's metrics.json from the store and records it.
                min_lift_over_linear=-1.0,
            )
        ).path
        setups[name] = {
            **store,
            "package": package,
            "local": folder / "local",
            "serving": f"{store['root']}/serving",
            "client": client,
        }
    started = {n: start_store_run(s, s3_endpoint) for n, s in setups.items()}
    for name, setup in setups.items():
        setup["first"] = finish_run(started[name], setup["local"])
        setup["served_before"] = served_objects(client, setup["serving"])
    # KFP's degraded second run, on the stock cluster's MinIO; it also sets a gate
    # threshold at run time (a runtime parameter). An s3:// second run would take the same
    # code paths (components/object_store.py serves both schemes); that the baseline finds
    # a version pushed to s3:// is tests/test_object_store.py's
    # test_a_push_to_s3_is_whole_or_nothing_and_the_baseline_finds_it.
    minio = setups["minio"]
    second = start_store_run(minio, s3_endpoint, "train_steps=2", "max_auc_drop=0.001")
    minio["second"] = finish_run(second, minio["local"])
    return setups


@pytest.fixture(params=sorted(STORES))
def store_runs(request, runs) -> dict:
    return runs[request.param]


@pytest.mark.slow
def test_first_run_is_blessed_pushes_to_the_object_store_and_the_model_serves(store_runs, tmp_path):
    import rocket_seed
    import tensorflow as tf

    from components.easyrec_example_gen import Column, RowParser

    result, record = store_runs["first"]
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
    scheme = store_runs["root"].split("://")[0] + "://"
    # Every artifact MLMD records is in the object store: no pod-local path leaked.
    uris = [a["uri"] for t in record["tasks"] for listed in t["outputs"].values() for a in listed]
    assert uris and all(u.startswith(store_runs["root"] + "/") for u in uris), uris
    # The zero-byte BLESSED marker made it up (the Pusher downstream pushed because of it).
    blessing = outputs_of(record, "Evaluator")["blessing"][0]["uri"]
    client = store_runs["client"]
    bucket, key = object_store.parse_uri(f"{blessing}/BLESSED")
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 0
    pushed = outputs_of(record, "Pusher")["pushed_model"][0]["metadata"]
    assert pushed["pushed_destination"] == f"{store_runs['serving']}/{pushed['pushed_version']}"
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
    minio = runs["minio"]
    result, record = minio["second"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "blessed: False" in result.stdout and "pushed: nothing" in result.stdout
    _, first = minio["first"]
    served = outputs_of(first, "Pusher")["pushed_model"][0]["metadata"]["pushed_version"]
    baseline = outputs_of(record, "ServedModelBaseline")["baseline"][0]["metadata"]
    assert baseline["served_version"] == served  # read from the store: what the gate compared
    assert outputs_of(record, "Evaluator")["blessing"][0]["metadata"]["blessed"] == 0
    assert outputs_of(record, "Pusher")["pushed_model"][0]["metadata"]["pushed"] == 0
    assert served_objects(minio["client"], minio["serving"]) == minio["served_before"]
    # KFP's cache (driver/cache.go): ExampleGen has none (KFP cannot fingerprint the data
    # folder), its new examples make every reader run again, all but SchemaGen.
    reused = {t["name"] for t in record["tasks"] if t["state"] == "cached"}
    assert reused == {"SchemaGen"}, record["tasks"]
    # The run's parameter reached the Trainer as parameterValues only (pipeline spec 2.1).
    trainer_input = json.loads(
        (minio["local"] / "runs" / record["run_id"] / "Trainer" / "executor_input.json").read_text()
    )["inputs"]
    assert json.loads(trainer_input["parameterValues"]["train_args"]) == {"num_steps": 2}
    assert "parameters" not in trainer_input
