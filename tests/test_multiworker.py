"""Multi-worker training: two worker processes on loopback, each with its own TF_CONFIG,
train under MultiWorkerMirroredStrategy through rocket_module.run_fn and TFX's data
accessor; exactly one light model is exported (by the chief), and it serves."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import multiworker_worker
import numpy as np
import pytest
import rocket_config
import rocket_data
import rocket_distribution
import rocket_training
import tensorflow as tf
import tensorflow_transform as tft
from small_transform import CONFIG, write_transformed

WORKER_SCRIPT = Path(__file__).with_name("multiworker_worker.py")


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return write_transformed(tmp_path_factory.mktemp("multiworker"))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def serialized_examples() -> list[bytes]:
    examples = []
    for user, ad, tags, price in (("u1", "a2", b"c1|c3", 7), ("unseen", "a99", b"", 60)):
        example = tf.train.Example()
        feature = example.features.feature
        feature["user_id"].bytes_list.value.append(user.encode())
        feature["ad_id"].bytes_list.value.append(ad.encode())
        feature["tags"].bytes_list.value.append(tags)
        feature["price"].int64_list.value.append(price)
        examples.append(example.SerializeToString())
    examples.append(tf.train.Example().SerializeToString())  # every feature missing
    return examples


@pytest.mark.multiworker
def test_two_workers_train_and_only_the_chief_exports(work_dir, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    scratch = tmp_path / "worker_tmp"  # where a non-chief writes, then deletes, its saves
    scratch.mkdir()
    processes = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
            "TF_USE_LEGACY_KERAS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TMPDIR": str(scratch),
            "ROCKET_TEST_STEPS": "20",
        }
        log = (tmp_path / f"worker{index}.log").open("w")
        processes.append(
            (
                subprocess.Popen(
                    [sys.executable, str(WORKER_SCRIPT), str(work_dir)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
    try:
        for process, _ in processes:
            process.wait(timeout=420)
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    for index, (process, _) in enumerate(processes):
        assert process.returncode == 0, f"worker {index} failed:\n{logs[index][-4000:]}"
    for log in logs:
        assert "worker 0 of 2 workers, 2 replicas" in log or "worker 1 of 2 workers" in log
        assert "[worker] done" in log
        assert "estimated memory of the embedding tables" in log
    # Two train files: one per worker. The single eval file is sharded by element.
    assert "train data sharded by FILE" in logs[0]
    assert "eval: auc_light=" in logs[0] and "eval: auc_light=" not in logs[1]

    # Exactly one light model (and one booster and one linear baseline, for the
    # Evaluator), written by the chief only.
    output = work_dir / "output"
    saved_models = sorted(p.parent.relative_to(output) for p in output.rglob("saved_model.pb"))
    assert saved_models == [
        Path("Format-Serving"),
        Path("model_run/booster"),
        Path("model_run/linear_baseline"),
    ]
    metrics = json.loads((output / "model_run" / "metrics.json").read_text())
    assert metrics["train_steps"] == 20
    # Both workers ran the same validation checks (their AUCs are reduced over the
    # cluster), so they stopped and kept the same step; the chief reports it.
    assert metrics["training"]["exported_step"] == metrics["training"]["best_validation_step"]
    assert "validation auc_light=" in logs[0] and "validation auc_light=" not in logs[1]
    # The hold-out's clicks, read from the AUC metric the cluster reduced: every worker's.
    validation = metrics["training"]["validation"]
    assert 0 < validation["clicks"] < validation["rows"]
    assert "validation hold-out:" in logs[0] and "validation hold-out:" not in logs[1]
    assert list(scratch.iterdir()) == []  # the non-chief's temporary saves are gone

    loaded = tf.saved_model.load(str(output / "Format-Serving"))
    served = loaded.signatures["serving_default"](examples=tf.constant(serialized_examples()))
    probabilities = served["probabilities"].numpy()
    assert probabilities.shape == (3,)
    assert np.all(np.isfinite(probabilities))
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_one_process_holds_validation_rows_out_and_exports_the_best_check(work_dir, tmp_path):
    """run_fn on TFX's data accessor, no cluster: the validation checks run every
    train_steps/12 steps on rows held out of the train split, the best check is exported
    and metrics.json and the log say which step and why training ended."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("transformed", "transform_fn"):
        (work / name).symlink_to(work_dir / name)
    (work / "config.json").write_text((work_dir / "config.json").read_text())
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "ROCKET_TEST_STEPS": "60"}  # fmt: skip
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, str(WORKER_SCRIPT), str(work)],
        env=env, capture_output=True, text=True, timeout=420,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((work / "output" / "model_run" / "metrics.json").read_text())
    training = metrics["training"]
    checks = [step for step, _ in training["validation_checks"]]
    every = dataclasses.replace(CONFIG.train, train_steps=60).check_every()  # TrainArgs' 60
    assert every == 5 and checks == list(range(every, training["stopped_at_step"] + 1, every))
    best = max(training["validation_checks"], key=lambda check: check[1])
    assert training["exported_step"] == training["best_validation_step"] == best[0]
    assert f"keeping the weights of step {best[0]} (best validation AUC)" in result.stdout
    # The pair trained once (EasyRec's stop-gradient), checked at each of those steps.
    assert training["light_trains_share"] is False
    pair_checks = re.findall(r"^\[Trainer\] step \d+: validation auc_light=", result.stdout, re.M)
    assert len(pair_checks) == len(checks)
    # The linear baseline: trained by the same loop on the same rows, checked as often.
    linear = metrics["linear_baseline"]
    assert 0.0 < linear["auc"] < 1.0 and linear["exported_step"] % every == 0
    # Its own regularization, apart from the nets' (rocket_config.linear_config).
    chosen = CONFIG.train.linear_embedding_regularization
    assert chosen != CONFIG.model.embedding_regularization
    assert linear["embedding_regularization"] == pytest.approx(chosen)
    assert (
        f"linear baseline (a logistic regression over the same ids and tag tokens, each token "
        f"once a row; same rows and loop, embedding_regularization {chosen:g}): eval "
        f"auc={linear['auc']:.4f}" in result.stdout
    )
    # ... trained beside the pair in one pass, and ending as it would alone: fit_model on
    # the same datasets gives the same kept step and eval AUC.
    os.environ["ROCKET_TEST_STEPS"] = "60"
    try:
        fn_args = multiworker_worker.fn_args_for(work)
    finally:
        del os.environ["ROCKET_TEST_STEPS"]
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    role = rocket_distribution.WorkerRole()
    splits = rocket_data.read_splits(fn_args, tft_output, CONFIG.train, role)
    alone, training = rocket_training.fit_model(
        rocket_config.linear_config(CONFIG),
        rocket_training.table_sizes(CONFIG, tft_output),
        splits.train, splits.validation, 60, tf.distribute.get_strategy(), role,
    )  # fmt: skip
    assert training["exported_step"] == linear["exported_step"]
    auc = alone.evaluate(splits.eval, verbose=0, return_dict=True)["auc_light"]
    assert auc == pytest.approx(linear["auc"], abs=1e-6)


@pytest.mark.slow
def test_a_non_finite_loss_stops_run_fn_and_nothing_is_exported(work_dir, tmp_path):
    """The Trainer's promise, where it lives (run_fn on TFX's data accessor): a loss that
    becomes NaN stops training with the step and a hint, and no SavedModel is written.
    (The CLI turns a failing component into exit 1 and its message, seen in
    test_reliability's black-box runs.)"""
    import rocket_module

    work = tmp_path / "work"
    work.mkdir()
    for name in ("transformed", "transform_fn"):
        (work / name).symlink_to(work_dir / name)
    exploding = dataclasses.replace(
        CONFIG, train=dataclasses.replace(CONFIG.train, learning_rate=1e30, train_steps=30)
    )
    (work / "config.json").write_text(exploding.to_json())
    fn_args = multiworker_worker.fn_args_for(work)
    with pytest.raises(rocket_training.TrainingError) as raised:
        rocket_module.run_fn(fn_args)
    message = str(raised.value)
    assert re.search(r"the training loss became nan at step \d+; nothing is exported", message)
    assert "lower the learning rate" in message
    serving = Path(fn_args.serving_model_dir)
    assert not serving.exists() or not any(serving.iterdir())


@pytest.mark.parametrize(
    "tf_config, expected, chief",
    [
        (None, (), True),
        (
            {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}},
            (2, "worker", 0),
            True,  # no chief task: worker 0 is the chief
        ),
        (
            {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}},
            (2, "worker", 1),
            False,
        ),
        (  # Vertex AI: workerpool0 is the chief, workerpool1 the workers
            {
                "cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]},
                "task": {"type": "worker", "index": 0},
                "environment": "cloud",
            },
            (3, "worker", 0, True),
            False,
        ),
        (
            {"cluster": {"chief": ["a:1"]}, "task": {"type": "chief", "index": 0}},
            (1, "chief", 0, True),
            True,
        ),
    ],
)
def test_worker_role_from_tf_config(tf_config, expected, chief):
    # Built here, not at collection: an in-process TFX run (test_module_file_reuse) may
    # re-import the module file's modules from its wheel, and a dataclass only equals
    # its own class.
    expected = rocket_distribution.WorkerRole(*expected)
    role = rocket_distribution.worker_role(json.dumps(tf_config) if tf_config else "")
    assert role == expected
    assert role.is_chief == chief
    assert role.multi_worker == (expected.num_workers > 1)


def test_worker_role_rejects_clusters_it_cannot_train_on():
    with pytest.raises(rocket_distribution.ClusterError, match="not valid JSON"):
        rocket_distribution.worker_role("{cluster")
    with pytest.raises(rocket_distribution.ClusterError, match=r"\['ps'\]"):
        rocket_distribution.worker_role(
            json.dumps(
                {
                    "cluster": {"worker": ["a:1"], "ps": ["b:2"]},
                    "task": {"type": "worker", "index": 0},
                }
            )
        )
    with pytest.raises(rocket_distribution.ClusterError, match="worker 2"):
        rocket_distribution.worker_role(
            json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 2}})
        )


REPLICA_CHECK = r"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import rocket_config, rocket_model
import rocket_seed
from rocket_preprocessing import transformed_name
import tf_keras as keras

# No BatchNorm: its batch statistics differ per replica by design; everything else must
# give the same update from two half batches as from the whole batch.
dnn = dict(use_bn=False)
config = rocket_config.with_changes(
    rocket_seed.default_config(),
    **{
        "model.share_dnn": rocket_config.DNNConfig((32,), **dnn),
        "model.booster_dnn": rocket_config.DNNConfig((32, 16), **dnn),
        "model.light_dnn": rocket_config.DNNConfig((16,), **dnn),
        "model.light_trains_share": False,
        "model.embedding_regularization": rocket_config.DEFAULT_EMBEDDING_REGULARIZATION,
        "train.learning_rate": 0.01,
    },
)
rng = np.random.default_rng(0)
size = 64
features = {}
for f in config.model_features():
    lengths = rng.integers(1, 3, size)
    values = rng.integers(0, 20, lengths.sum())
    features[transformed_name(f.name)] = tf.RaggedTensor.from_row_lengths(
        tf.constant(values, tf.int64), lengths).to_sparse()
labels = tf.constant(rng.integers(0, 2, size), tf.int64)
dataset = tf.data.Dataset.from_tensors((features, labels))
sizes = {f.name: 20 for f in config.model_features()}

def trained(strategy, initial):
    with strategy.scope():
        model = rocket_model.build_model(config, sizes)
        # Plain SGD: its step is proportional to the gradient, so a loss that is not
        # averaged over replicas shows (Adam's first step would hide the scale).
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
        model(features)  # create the variables, then start both from the same values
    for variable, value in zip(model.trainable_weights, initial):
        variable.assign(value)
    model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    return [v.numpy() for v in model.trainable_weights], strategy.num_replicas_in_sync

reference = rocket_model.build_model(config, sizes)
reference(features)
initial = [v.numpy() for v in reference.trainable_weights]
single, one = trained(tf.distribute.get_strategy(), initial)
mirrored, two = trained(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), initial)
assert (one, two) == (1, 2)
assert max(float(np.max(np.abs(a - b))) for a, b in zip(initial, single)) > 1e-3  # it moved
worst = max(float(np.max(np.abs(a - b))) for a, b in zip(single, mirrored))
print("max weight difference", worst)
assert worst < 1e-5, worst
print("REPLICAS OK")
"""


def test_two_replicas_make_the_same_update_as_one(tmp_path):
    """The custom train_step divides the loss by the replica count: with the gradients
    summed over replicas, two half batches must move the weights as the whole batch does
    (without that division, the step would be twice as large)."""
    script = tmp_path / "replica_check.py"
    script.write_text(REPLICA_CHECK)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "REPLICAS OK" in result.stdout
