"""TFX's Pusher, but serving never sees a partial model folder.

TFX copies the model straight into `<base>/<version>/` (saved_model.pb last). A model
server polling `<base>` can meet that folder half-written, and a run killed mid-copy
leaves it half-written for good. Here the copy goes to a hidden staging folder
`<base>/.staging-<version>-<pid>` (TF Serving only loads numeric folder names) and is then
renamed to `<base>/<version>`: on a local or POSIX filesystem the version appears whole
or not at all. Object stores (gs://) have no atomic rename; there the rename is a copy
of a complete, already verified folder. Two pushes in the same second get distinct
versions (TFX would skip the second and still report it pushed).

Stale staging folders of killed pushes are removed at the next push. The staging name
says who made it and when (`.staging-<version>-<host>-<pid>`, the version being the
creation time): a folder from this host whose process is gone is stale at once; one from
another host (two pods pushing to one gs:// folder) only after STALE_AFTER_SECONDS, as
this host cannot see that process.

An s3:// or minio:// serving folder (a self-hosted Kubeflow's MinIO, AWS S3) is written with
boto3 (components/object_store.py): the model is uploaded to the staging prefix, checked,
then copied server-side to `<base>/<version>/` with saved_model.pb last, and the staging
objects are deleted; a failed push deletes what it wrote.
"""

from __future__ import annotations

import os
import re
import socket
import time

import tensorflow as tf
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components import object_store

STAGING_PREFIX = ".staging-"
STALE_AFTER_SECONDS = 6 * 3600  # a push from another host is given this long to finish
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def staging_name(version: int) -> str:
    return f"{STAGING_PREFIX}{version}-{_HOST}-{os.getpid()}"


def is_stale(name: str, now: float) -> bool:
    """Whether the staging folder `name` belongs to a push that can no longer finish."""
    match = re.fullmatch(re.escape(STAGING_PREFIX) + r"(\d+)-(.+)-(\d+)", name)
    if not match:  # not ours to judge by name (e.g. an older layout): by age only if known
        created = name[len(STAGING_PREFIX) :].split("-", 1)[0]
        return created.isdigit() and now - int(created) > STALE_AFTER_SECONDS
    created, host, pid = int(match.group(1)), match.group(2), int(match.group(3))
    if host == _HOST:
        return pid == os.getpid() or not _alive(pid)
    return now - created > STALE_AFTER_SECONDS


def _remove_stale_staging(base: str) -> None:
    now = time.time()
    if object_store.is_object_store_uri(base):
        for name in object_store.list_folders(base):
            if name.startswith(STAGING_PREFIX) and is_stale(name, now):
                object_store.delete_folder(f"{base}/{name}")
        return
    if not tf.io.gfile.isdir(base):
        return
    for name in tf.io.gfile.listdir(base):
        name = name.rstrip("/")
        if name.startswith(STAGING_PREFIX) and is_stale(name, now):
            tf.io.gfile.rmtree(os.path.join(base, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _push_to_object_store(model_path: str, base: str) -> tuple[str, str]:
    base = base.rstrip("/")
    _remove_stale_staging(base)
    taken = set(object_store.list_folders(base))
    version = int(time.time())
    while str(version) in taken:
        version += 1
    staging, serving_path = f"{base}/{staging_name(version)}", f"{base}/{version}"
    try:
        object_store.upload(model_path, staging, last=("saved_model.pb",))
        if not object_store.exists(f"{staging}/saved_model.pb"):
            raise FileNotFoundError(f"no saved_model.pb in the model to push ({model_path})")
        object_store.copy_folder(staging, serving_path, last=("saved_model.pb",))
    except BaseException:
        object_store.delete_folder(serving_path)
        raise
    finally:
        object_store.delete_folder(staging)
    return serving_path, str(version)


def push_atomically(model_path: str, base: str) -> tuple[str, str]:
    """Copy the SavedModel at `model_path` to a new `<base>/<version>`; returns
    (serving path, version)."""
    if object_store.is_object_store_uri(base):
        return _push_to_object_store(model_path, base)
    tf.io.gfile.makedirs(base)
    _remove_stale_staging(base)
    version = int(time.time())
    while tf.io.gfile.exists(os.path.join(base, str(version))):
        version += 1
    staging = os.path.join(base, staging_name(version))
    try:
        io_utils.copy_dir(model_path, staging)
        if not tf.io.gfile.exists(os.path.join(staging, "saved_model.pb")):
            raise FileNotFoundError(f"no saved_model.pb in the model to push ({model_path})")
        serving_path = os.path.join(base, str(version))
        tf.io.gfile.rename(staging, serving_path, overwrite=False)
    except BaseException:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        raise
    return serving_path, str(version)


class Executor(tfx_pusher.Executor):
    """Filesystem push via `push_atomically`; blessing and bookkeeping as TFX's Pusher."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX API)
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("the atomic Pusher pushes to a filesystem destination only")
        model_path = self.GetModelPath(input_dict)
        serving_path, version = push_atomically(model_path, destination.filesystem.base_directory)
        io_utils.copy_dir(model_path, model_push.uri)  # the archive copy, as TFX does
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
