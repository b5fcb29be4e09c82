"""Pushing is atomic: a version folder appears complete or not at all."""

import json
import os

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components.atomic_pusher import Executor, push_atomically
from components.atomic_pusher.executor import STAGING_PREFIX


@pytest.fixture
def saved_model(tmp_path):
    module = tf.Module()
    module.v = tf.Variable(3.0)
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([], tf.float32)])
    path = tmp_path / "model" / "Format-Serving"
    tf.saved_model.save(module, str(path))
    return path


def listing(base):
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def test_two_pushes_give_two_complete_versions_and_no_staging(saved_model, tmp_path):
    base = tmp_path / "serving"
    first, v1 = push_atomically(str(saved_model), str(base))
    second, v2 = push_atomically(str(saved_model), str(base))
    assert v1 != v2 and listing(base) == sorted([v1, v2])
    for path in (first, second):
        assert float(tf.saved_model.load(path).f(2.0)) == 6.0


def test_failed_copy_leaves_no_version_folder(saved_model, tmp_path):
    os.symlink(tmp_path / "missing-file", saved_model / "variables" / "broken")
    base = tmp_path / "serving"
    with pytest.raises(Exception):  # noqa: B017 - whichever error the filesystem raises
        push_atomically(str(saved_model), str(base))
    assert listing(base) == []


def test_stale_staging_of_a_dead_run_is_removed(saved_model, tmp_path):
    base = tmp_path / "serving"
    stale = base / f"{STAGING_PREFIX}123-999999999"
    (stale / "variables").mkdir(parents=True)
    _, version = push_atomically(str(saved_model), str(base))
    assert listing(base) == [version]


def run_executor(saved_model, tmp_path, blessed: int):
    model = standard_artifacts.Model()
    model.uri = str(saved_model.parent)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = {"filesystem": {"base_directory": str(tmp_path / "serving")}}
    Executor().Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": json.dumps(destination)},
    )
    return pushed


def test_executor_pushes_only_a_blessed_model(saved_model, tmp_path):
    pushed = run_executor(saved_model, tmp_path, blessed=0)
    assert pushed.get_int_custom_property("pushed") == 0
    assert listing(tmp_path / "serving") == []
    pushed = run_executor(saved_model, tmp_path, blessed=1)
    assert pushed.get_int_custom_property("pushed") == 1
    destination = pushed.get_string_custom_property("pushed_destination")
    assert listing(tmp_path / "serving") == [os.path.basename(destination)]


def test_staging_of_another_host_is_kept_until_it_is_old(saved_model, tmp_path):
    """Two pods pushing to one gs:// folder: a pod cannot see the other's process, so it
    judges the other's staging by age (before: by local PID, deleting a live push)."""
    import time

    from components.atomic_pusher import executor

    now = int(time.time())
    base = tmp_path / "serving"
    live_elsewhere = base / f"{STAGING_PREFIX}{now}-other-pod-1"
    dead_elsewhere = base / f"{STAGING_PREFIX}{now - executor.STALE_AFTER_SECONDS - 60}-other-pod-1"
    dead_here = base / executor.staging_name(now).replace(f"-{os.getpid()}", "-999999999")
    live_here = base / executor.staging_name(now).replace(f"-{os.getpid()}", f"-{os.getppid()}")
    for folder in (live_elsewhere, dead_elsewhere, dead_here, live_here):
        (folder / "variables").mkdir(parents=True)
    _, version = push_atomically(str(saved_model), str(base))
    assert sorted(listing(base)) == sorted([version, live_elsewhere.name, live_here.name])
