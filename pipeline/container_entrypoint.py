"""The command of every compiled step: TFX's container entrypoint, made to survive the
open-source Kubeflow Pipelines backend.

`rocket compile` sets it as the steps' command (KubeflowV2DagRunnerConfig
default_commands), so a package runs `python -m pipeline.container_entrypoint` with TFX's
own arguments (`--executor_class_path`, `--json_serialized_invocation_args {{$}}`,
`--json_serialized_inputs_spec_args <the component's inputDefinitions>`, Beam flags).
Before handing them to TFX's `kubeflow_v2_run_executor`, it repairs two things the KFP
backend does differently from Vertex AI:

1. Upstream artifacts arrive with an EMPTY `instanceSchema` (kubeflow/pipelines
   backend/src/v2/metadata/client.go, GetOutputArtifactsByExecutionId: `Schema: ""`),
   and TFX imports the artifact class from that schema's title
   (kubeflow_v2_entrypoint_utils._retrieve_class_path; tensorflow/tfx#7768). Each such
   input gets the type its component declares, taken from the package itself (the
   inputs spec argument TFX compiles into every step).
2. KFP >= 2.5 adds an `executor-logs` output of type `system.Artifact` to every task
   (backend/src/v2/driver/driver.go, provisionOutputs); TFX would try to import
   `system.Artifact` as a Python class. Outputs of `system.*` types are the backend's
   own and are not handed to the TFX executor (the launcher uploads them itself).

3. With a `minio://` or `s3://` pipeline root, KFP's launcher downloads every input
   artifact to a pod-local path before the step runs and uploads every output folder
   after it (backend/src/v2/component/launcher_v2.go: downloadArtifacts,
   uploadOutputArtifacts; LocalPathForURI maps minio://b/k -> /minio/b/k, s3://b/k ->
   /s3/b/k), but it hands the step the remote URIs, which TFX's file I/O cannot open.
   Here TFX gets the local paths instead, and afterwards every such path in the
   ExecutorOutput file is turned back into its remote URI: the launcher takes each
   output's URI from that file (mergeRuntimeArtifacts), and a local path left there
   would be recorded in MLMD with its upload silently skipped. An output whose URI
   cannot be turned back fails the step. An input that was an empty folder has no
   objects, so nothing was downloaded: its folder is created empty. ExampleGen's data
   folder (`input_base`) is not an artifact: its files are copied into the same mount
   with boto3 (components/object_store.py), with the cluster's credentials.

Where the types are present and the root is gs:// (Vertex AI, or a fixed backend)
nothing is changed and the arguments reach TFX byte for byte.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from components import object_store

INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
BACKEND_TYPE_PREFIX = "system."  # KFP's own artifact types (schemaTitle system.Artifact, ...)
# Where the launcher's /minio and /s3 folders are: "/" in a pod; `rocket run-package`
# points it at the folder standing in for the task's pod.
MOUNT_ROOT_ENV = "ROCKET_LAUNCHER_MOUNT_ROOT"
DATA_PARAMETER, INPUT_CONFIG_PARAMETER = "input_base", "input_config"  # ExampleGen's


class LeakedLocalPath(RuntimeError):
    """An output would reach the launcher with a pod-local URI (never uploaded)."""


def _flag_value(argv: Sequence[str], flag: str) -> tuple[int, str] | None:
    """(index of the value, value) of `--flag value` or `--flag=value`."""
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            return index + 1, argv[index + 1]
        if arg.startswith(flag + "="):
            return index, arg[len(flag) + 1 :]
    return None


def _has_type(type_schema: dict | None) -> bool:
    """True when TFX can read a class from this ArtifactTypeSchema (JSON form)."""
    if not type_schema:
        return False
    if type_schema.get("schemaTitle"):
        return True
    schema = type_schema.get("instanceSchema") or ""
    return "title:" in schema


def _type_title(type_schema: dict) -> str:
    if type_schema.get("schemaTitle"):
        return type_schema["schemaTitle"]
    for line in (type_schema.get("instanceSchema") or "").splitlines():
        if line.startswith("title:"):
            return line.split(":", 1)[1].strip()
    return ""


def repair_executor_input(executor_input: dict, inputs_spec: dict | None) -> list[str]:
    """Fills missing input artifact types from the component's inputs spec and removes
    backend-added `system.*` outputs, in place. Returns what was changed, for the log."""
    changes = []
    declared = (inputs_spec or {}).get("artifacts", {})
    for key, artifact_list in executor_input.get("inputs", {}).get("artifacts", {}).items():
        for artifact in artifact_list.get("artifacts", []):
            if _has_type(artifact.get("type")):
                continue
            spec_type = declared.get(key, {}).get("artifactType")
            if not spec_type:
                raise ValueError(
                    f"input artifact {key!r} arrived without a type and the step's inputs "
                    "spec does not declare it; cannot tell TFX which class it is"
                )
            artifact["type"] = dict(spec_type)
            changes.append(f"input {key}: type {_type_title(spec_type)} from the package")
    outputs = executor_input.get("outputs", {}).get("artifacts", {})
    for key in list(outputs):
        titles = {_type_title(a.get("type") or {}) for a in outputs[key].get("artifacts", [])}
        if any(title.startswith(BACKEND_TYPE_PREFIX) for title in titles):
            del outputs[key]
            changes.append(f"output {key}: {', '.join(sorted(titles))} left to the backend")
    return changes


def _edit_invocation(
    argv: list[str], edit: Callable[[dict], list[str]]
) -> tuple[list[str], list[str], dict | None]:
    """Applies `edit` to the ExecutorInput argument: (argv, changes, ExecutorInput). The
    argument is re-serialised only when something changed."""
    found = _flag_value(argv, INVOCATION_FLAG)
    if found is None:
        return argv, [], None
    index, raw = found
    executor_input = json.loads(raw)
    changes = edit(executor_input)
    if not changes:
        return argv, [], executor_input
    repaired = json.dumps(executor_input)
    argv = list(argv)
    argv[index] = repaired if argv[index] == raw else f"{INVOCATION_FLAG}={repaired}"
    return argv, changes, executor_input


def repair_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """The TFX entrypoint's arguments with the ExecutorInput repaired; unchanged (the same
    strings) when there was nothing to repair."""
    spec = _flag_value(argv, INPUTS_SPEC_FLAG)
    inputs_spec = json.loads(spec[1]) if spec and spec[1] else None
    argv, changes, _ = _edit_invocation(
        argv, lambda executor_input: repair_executor_input(executor_input, inputs_spec)
    )
    return argv, changes


def _data_keys(uri: str, input_config: str | None) -> list[str]:
    """Keys under the data folder `uri` that ExampleGen's split patterns match (a `*`
    stays within one path segment, as in a file glob)."""
    _, prefix = object_store.parse_uri(uri, "--data")
    patterns = [s["pattern"] for s in json.loads(input_config or "{}").get("splits", [])]
    keys = []
    for key in object_store.list_keys(uri):
        relative = PurePosixPath(key[len(prefix) :].lstrip("/"))
        for pattern in patterns or ["*"]:
            parts = PurePosixPath(pattern).parts
            if len(parts) == len(relative.parts) and all(
                fnmatch.fnmatchcase(name, part) for name, part in zip(relative.parts, parts)
            ):
                keys.append(key)
                break
    return keys


def localize_object_store_uris(executor_input: dict, mount_root: str = "/") -> list[str]:
    """minio:// and s3:// artifact URIs -> the launcher's pod-local paths, in place;
    ExampleGen's data folder copied there. Returns what was changed, for the log."""
    changes = []
    for side in ("inputs", "outputs"):
        for key, listed in executor_input.get(side, {}).get("artifacts", {}).items():
            for artifact in listed.get("artifacts", []):
                uri = artifact.get("uri", "")
                if not object_store.is_object_store_uri(uri):
                    continue
                local = object_store.launcher_local_path(uri, mount_root)
                artifact["uri"] = local
                if side == "inputs" and not os.path.exists(local):
                    os.makedirs(local)  # an empty folder: no objects, nothing downloaded
                changes.append(f"{side[:-1]} {key}: {uri} at {local}")
    values = executor_input.get("inputs", {}).get("parameterValues", {})
    data = values.get(DATA_PARAMETER)
    if isinstance(data, str) and object_store.is_object_store_uri(data):
        local = object_store.launcher_local_path(data.rstrip("/"), mount_root)
        keys = _data_keys(data, values.get(INPUT_CONFIG_PARAMETER))
        if not keys:
            raise object_store.ObjectStoreError(
                f"--data {data}: no object there matches the data pattern"
            )
        files = object_store.download(data.rstrip("/"), local, keys=keys)
        values[DATA_PARAMETER] = local
        changes.append(f"parameter {DATA_PARAMETER}: {len(files)} files of {data} at {local}")
    return changes


def _to_remote(value, mount_root: str):
    if isinstance(value, str):
        return object_store.remote_uri_for_local(value, mount_root) or value
    if isinstance(value, list):
        return [_to_remote(v, mount_root) for v in value]
    if isinstance(value, dict):
        return {k: _to_remote(v, mount_root) for k, v in value.items()}
    return value


def remote_executor_output(output: dict, provisioned: dict, mount_root: str = "/") -> dict:
    """The ExecutorOutput with every pod-local mount path turned back into its remote URI.
    `provisioned` is the ExecutorInput's outputs as the launcher gave them: an output it
    provisioned remote must come back remote (LeakedLocalPath otherwise)."""
    output = _to_remote(output, mount_root)
    for key, listed in output.get("artifacts", {}).items():
        given = provisioned.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
        if not object_store.is_object_store_uri(given.get("uri")):
            continue
        for artifact in listed.get("artifacts", []):
            uri = artifact.get("uri", "")
            if uri and not object_store.is_object_store_uri(uri):
                raise LeakedLocalPath(
                    f"output {key}: the step returned {uri!r}, which is not under the "
                    f"launcher's mounts of {given['uri']}; the launcher would record it in "
                    "MLMD and skip the upload"
                )
    return output


def _rewrite_output_file(path: str, provisioned: dict, mount_root: str) -> None:
    if not os.path.exists(path):  # no ExecutorOutput: the launcher keeps its own URIs
        return
    with open(path, encoding="utf-8") as handle:
        output = json.load(handle)
    output = remote_executor_output(output, provisioned, mount_root)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(output, handle)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, changes = repair_argv(argv)
    mount_root = os.environ.get(MOUNT_ROOT_ENV, "/")
    remote_outputs: dict = {}

    def localize(executor_input: dict) -> list[str]:
        remote_outputs.update(copy.deepcopy(executor_input.get("outputs", {})))
        return localize_object_store_uris(executor_input, mount_root)

    argv, localized, _ = _edit_invocation(argv, localize)
    for change in changes + localized:
        print(f"[rocket entrypoint] {change}", file=sys.stderr, flush=True)
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    from pipeline import beam_staging

    beam_staging.skip_tfx_sdist_on_direct_runner()

    sys.argv = [tfx_entry.__file__, *argv]
    try:
        app.run(tfx_entry.main, flags_parser=tfx_entry._parse_flags)
    except SystemExit as exit_:
        if exit_.code in (0, None) and localized and remote_outputs.get("outputFile"):
            _rewrite_output_file(remote_outputs["outputFile"], remote_outputs, mount_root)
        raise


if __name__ == "__main__":
    main()
