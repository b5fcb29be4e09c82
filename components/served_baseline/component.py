"""ServedModelBaseline: the newest model version in the serving folder, as a Model artifact.

Why not TFX's Resolver with LatestBlessedModelStrategy: it compiles into `resolver`
executors, which open-source Kubeflow Pipelines refuses ("resolver executors not
implemented", backend/src/v2/compiler/argocompiler/dag.go). This step is an ordinary
container task on every runner (local Beam, Kubeflow, Vertex) and reads no metadata
store, so the three behave the same.

Why the *served* model and not the latest blessed one in metadata: the gate protects what
users get. The Pusher only pushes blessed models, so the two agree unless someone has
rolled serving back by removing a version; then the model actually served is the right
bar. It also survives a new or reset metadata store (each KFP/Vertex project has its
own).

With no served model yet (a first run) the artifact holds no SavedModel and the Evaluator
judges the candidate by its absolute thresholds alone (components/rocket_evaluator).
"""

# No `from __future__ import annotations`: TFX reads the @component annotations as types.
import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils, path_utils

from components import object_store

SERVED_VERSION_PROPERTY = "served_version"  # "" when nothing was served


def latest_served_version(serving_dir: str):
    """The highest numeric version folder under `serving_dir` that holds a SavedModel
    (TF Serving's rule: numeric names only; staging folders are hidden), or None. An
    s3:// / minio:// folder is listed with boto3 (components/object_store.py)."""
    if object_store.is_object_store_uri(serving_dir):
        serving_dir = serving_dir.rstrip("/")
        numeric = sorted(int(n) for n in object_store.list_folders(serving_dir) if n.isdigit())
        for version in reversed(numeric):
            if object_store.exists(f"{serving_dir}/{version}/saved_model.pb"):
                return str(version)
        return None
    if not tf.io.gfile.isdir(serving_dir):
        return None
    versions = []
    for name in tf.io.gfile.listdir(serving_dir):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.exists(os.path.join(serving_dir, name, "saved_model.pb")):
            versions.append(int(name))
    return str(max(versions)) if versions else None


@component
def ServedModelBaseline(  # noqa: N802 (TFX component naming)
    serving_dir: Parameter[str],
    candidate: InputArtifact[standard_artifacts.Model],
    baseline: OutputArtifact[standard_artifacts.Model],
) -> None:
    """Copies the newest served version into `baseline` (Format-Serving layout).

    `candidate` is not read: it makes the step run after the Trainer and keys its cache
    on the candidate, so a cached baseline is only ever reused together with the cached
    evaluation of the very same model.
    """
    del candidate
    version = latest_served_version(serving_dir)
    baseline.set_string_custom_property(SERVED_VERSION_PROPERTY, version or "")
    if version is None:
        print(f"[baseline] no model served under {serving_dir}: first run, no baseline")
        return
    source = os.path.join(serving_dir, version)
    if object_store.is_object_store_uri(serving_dir):
        object_store.download(source, path_utils.serving_model_dir(baseline.uri))
    else:
        io_utils.copy_dir(source, path_utils.serving_model_dir(baseline.uri))
    print(f"[baseline] served version {version} from {source}")
