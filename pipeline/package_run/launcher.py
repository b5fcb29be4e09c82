"""What KFP's launcher does around a step when artifacts live in an S3-compatible store
(minio:// or s3:// pipeline root), for `rocket run-package`. File names are those of
kubeflow/pipelines backend/src/v2:

- before the step, every input artifact at an s3:// / minio:// URI is downloaded to its
  pod-local path (component/launcher_v2.go downloadArtifacts, LocalPathForURI; the
  objects under `key/`, or the one object `key`, objectstore DownloadBlob), and the
  folders of the outputs are created (prepareOutputFolders);
- the ExecutorOutput file is pod-local: LocalPathForURI of the task root
  (driver/driver.go provisionOutputs);
- after the step, each output's URI and metadata are merged from the ExecutorOutput
  file (mergeRuntimeArtifacts), and the local folder of the merged URI is uploaded file by
  file (uploadOutputArtifacts, objectstore UploadBlob: empty folders are lost, empty files
  are kept). A merged URI with no storage scheme is recorded as it is with its upload
  skipped ("does not have a recognized storage URI"): here that fails the step, since the
  artifact would be lost;
- a failed step uploads only its executor-logs.

The pod is a fresh folder per task (`<task work folder>/pod`), so nothing reaches a step
but what the object store holds. The launcher's credentials: for a minio:// root the
cluster secret mlpipeline-minio-artifact (as the launcher reads it), given to run-package
with --secret; otherwise this process's own environment (AWS_*).
"""

from __future__ import annotations

import json
from pathlib import Path

from components import object_store
from pipeline.package_run.backend_rules import PackageRunError


class ObjectStoreLauncher:
    def __init__(self, pipeline_root: str, endpoint: str | None, secrets: dict[str, dict]):
        self.endpoint = endpoint
        credentials = None
        secret = (
            secrets.get(object_store.MINIO_SECRET) if pipeline_root.startswith("minio://") else None
        )
        if secret:
            credentials = {
                "aws_access_key_id": secret.get("accesskey"),
                "aws_secret_access_key": secret.get("secretkey"),
            }
        self.client = object_store.make_client(endpoint, credentials)

    @staticmethod
    def local_path(uri: str, pod: Path) -> Path:
        return Path(object_store.launcher_local_path(uri, str(pod)))

    def download_inputs(self, executor_input: dict, pod: Path) -> None:
        for key, listed in executor_input["inputs"].get("artifacts", {}).items():
            for artifact in listed.get("artifacts", []):
                uri = artifact["uri"]
                if not object_store.is_object_store_uri(uri):
                    continue  # "not a recognized storage URI": left to the step
                local = self.local_path(uri, pod)
                bucket, prefix = object_store.parse_uri(uri, f"input {key}")
                keys = object_store.list_keys(uri, self.client)
                if keys == [prefix]:  # one object: it is the local path itself
                    local.parent.mkdir(parents=True, exist_ok=True)
                    self.client.download_file(bucket, prefix, str(local))
                else:
                    object_store.download(uri, local, self.client, keys=keys)

    def upload(self, name: str, key: str, uri: str, pod: Path) -> None:
        """Uploads output `key` of task `name` from the pod to `uri` (its merged URI)."""
        if not object_store.is_object_store_uri(uri):
            raise PackageRunError(
                f"task {name}: output {key} came back with URI {uri!r}: KFP's launcher "
                "would record it in MLMD and skip the upload (not a recognized storage URI), "
                "so the artifact would be lost"
            )
        local = self.local_path(uri, pod)
        if local.exists():  # a missing folder is allowed (components need not write)
            object_store.upload(local, uri, self.client)


def read_executor_output(path: Path) -> dict:
    """launcher_v2.go getExecutorOutputFile: a missing file is an empty ExecutorOutput."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise PackageRunError(
            f"failed to unmarshall ExecutorOutput in file {path}: {error}"
        ) from None


def step_environment(
    task_name: str,
    container: dict,
    executor_config: dict,
    secrets: dict[str, dict],
    base: dict[str, str],
    endpoint: str | None,
) -> dict[str, str]:
    """The step's environment as the pod gets it: the container's `env` (driver/driver.go)
    and its secrets as variables (kfp-kubernetes secretAsEnv, driver/k8s.go), with the
    endpoint given to run-package in place of the cluster's. This machine's AWS_* settings
    are not the pod's and are dropped."""
    env = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "")
    if endpoint:
        env[object_store.ENDPOINT_ENV] = endpoint
    for entry in executor_config.get("secretAsEnv", []):
        name = entry.get("secretNameParameter", {}).get("runtimeValue", {}).get(
            "constant"
        ) or entry.get("secretName")
        secret = secrets.get(name)
        if secret is None:
            raise PackageRunError(
                f'task {task_name}: secret "{name}" not found (the pod would not start: '
                "CreateContainerConfigError); give it to run-package with --secret"
            )
        for mapping in entry.get("keyToEnv", []):
            if mapping["secretKey"] not in secret:
                raise PackageRunError(
                    f"task {task_name}: couldn't find key {mapping['secretKey']} in Secret {name}"
                )
            env[mapping["envVar"]] = secret[mapping["secretKey"]]
    return env


def parse_secrets(items: list[str]) -> dict[str, dict[str, str]]:
    """['NAME:KEY=VALUE', ...] -> {NAME: {KEY: VALUE}}: the cluster's secrets, stood in."""
    secrets: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, pair = item.partition(":")
        key, eq, value = pair.partition("=")
        if not sep or not eq or not name or not key:
            raise PackageRunError(f"--secret {item}: write it as NAME:KEY=VALUE")
        secrets.setdefault(name, {})[key] = value
    return secrets
