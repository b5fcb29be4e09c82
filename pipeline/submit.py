"""Send a compiled package to Kubeflow Pipelines (kfp.Client) or Vertex AI (PipelineJob).

Kubeflow: the YAML is uploaded as a pipeline (or as a new version of the pipeline of the
same name), then a run of that version is created in an experiment. Vertex: the
PipelineJob JSON is submitted as is, with the run's parameter values.

`--param` values are checked against the package's runtime parameters before anything is
sent, and converted to their declared types. `train_steps=N` is accepted as a shorthand for
`train_args={"num_steps": N}` (TFX carries the steps inside the Trainer's TrainArgs JSON).
"""

from __future__ import annotations

import datetime
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import UsageError

TRAIN_STEPS_SHORTHAND = "train_steps"
TRAIN_ARGS = "train_args"
DEFAULT_EXPERIMENT = "rocket-launching"
_SERVICE_ACCOUNT = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class SubmitError(UsageError):
    """The package or a submit option cannot be used; the message names it."""


@dataclass(frozen=True)
class SubmittedRun:
    run_id: str
    url: str
    details: dict[str, str]  # pipeline/version/experiment ids or the Vertex resource name


def _timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")


def _package_documents(path: str | Path) -> list:
    path = Path(path)
    if not path.is_file():
        raise SubmitError(f"{path}: no such package file (run `rocket compile` first)")
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except yaml.YAMLError as error:
        raise SubmitError(f"{path}: not a YAML/JSON pipeline package ({error})") from None
    first = documents[0] if documents else None
    if not isinstance(first, dict) or not ("pipelineSpec" in first or "pipelineInfo" in first):
        raise SubmitError(f"{path}: not a compiled pipeline (no pipelineInfo / pipelineSpec)")
    return documents


def load_package(path: str | Path) -> dict:
    """The package as a dict: a KFP PipelineSpec (YAML) or a Vertex PipelineJob (JSON)."""
    return _package_documents(path)[0]


def load_platform_spec(path: str | Path) -> dict:
    """The Kubernetes settings of a KFP package (its second YAML document, as kfp-kubernetes
    writes it: platforms.kubernetes.deploymentSpec.executors), or {}."""
    for document in _package_documents(path)[1:]:
        if isinstance(document, dict) and "platforms" in document:
            return document["platforms"].get("kubernetes", {})
    return {}


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """['k=v', ...] -> {k: v}; the same name twice is an error."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SubmitError(f"--param {item}: write it as NAME=VALUE")
        if name in params:
            raise SubmitError(f"--param {name}: given twice")
        params[name] = value
    return params


def _convert(name: str, value: str, parameter_type: str) -> Any:
    try:
        if parameter_type == "NUMBER_INTEGER":
            return int(value)
        if parameter_type == "NUMBER_DOUBLE":
            return float(value)
        if parameter_type == "BOOLEAN":
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
        if parameter_type in ("LIST", "STRUCT"):
            return json.loads(value)
    except ValueError:
        raise SubmitError(
            f"--param {name}={value}: not a valid {parameter_type.lower()} value"
        ) from None
    return value


def resolve_params(spec: dict, params: dict[str, str]) -> dict[str, Any]:
    """Checks names against the spec's runtime parameters and converts the values."""
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    params = dict(params)
    if TRAIN_STEPS_SHORTHAND in params and TRAIN_STEPS_SHORTHAND not in declared:
        if TRAIN_ARGS not in declared:
            raise SubmitError(f"--param {TRAIN_STEPS_SHORTHAND}: this package has no train_args")
        if TRAIN_ARGS in params:
            raise SubmitError(f"--param: give {TRAIN_STEPS_SHORTHAND} or {TRAIN_ARGS}, not both")
        steps = params.pop(TRAIN_STEPS_SHORTHAND)
        if not steps.isdigit() or int(steps) < 1:
            raise SubmitError(f"--param {TRAIN_STEPS_SHORTHAND}={steps}: a positive integer")
        params[TRAIN_ARGS] = json.dumps({"num_steps": int(steps)})
    resolved: dict[str, Any] = {}
    for name, value in params.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise SubmitError(f"--param {name}: not a runtime parameter of the package ({known})")
        resolved[name] = _convert(name, value, declared[name].get("parameterType", "STRING"))
    if TRAIN_ARGS in resolved:
        try:
            train_args = json.loads(resolved[TRAIN_ARGS])
        except json.JSONDecodeError:
            train_args = None
        if not isinstance(train_args, dict):
            example = '{"num_steps": 1000}'
            raise SubmitError(
                f"--param {TRAIN_ARGS}={resolved[TRAIN_ARGS]}: TrainArgs JSON, e.g. {example}"
            )
    return resolved


HEALTHZ = "/apis/v2beta1/healthz"  # KFP API server's health endpoint (JSON)


def check_kfp_host(host: str, token: str | None = None, timeout: float = 10.0) -> None:
    """One request to the KFP API's health endpoint, so a wrong --host is one line in
    seconds (kfp.Client would retry for half a minute and print its tracebacks)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(host.rstrip("/") + HEALTHZ)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read(65536)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, body, content_type = error.code, b"", error.headers.get("Content-Type", "")
    except urllib.error.URLError as error:
        raise SubmitError(f"--host {host}: cannot connect ({error.reason})") from None
    except (TimeoutError, OSError) as error:
        raise SubmitError(f"--host {host}: no answer ({error})") from None
    try:
        healthy = status == 200 and isinstance(json.loads(body), dict)
    except ValueError:
        healthy = False
    if not healthy:
        raise SubmitError(
            f"--host {host}: not a Kubeflow Pipelines API (GET {HEALTHZ} answered {status} "
            f"{content_type or 'without a content type'}); give the KFP API URL, e.g. "
            "http://localhost:8080, and --token if it sits behind a login"
        )


def submit_kubeflow(
    package: str | Path,
    host: str,
    params: dict[str, str] | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    namespace: str | None = None,
    token: str | None = None,
    pipeline_root: str | None = None,
) -> SubmittedRun:
    """Upload the KFP v2 YAML (a new pipeline, or a new version of the pipeline with the
    same name) and start a run of exactly that version.

    The run gets `pipeline_root`, by default the package's defaultPipelineRoot: the KFP
    backend never reads that field itself (only its UI pre-fills it), and without a root
    a run writes to the server's own default (its MinIO), not where it was compiled for."""
    package = Path(package)
    if package.suffix.lower() not in (".yaml", ".yml"):
        raise SubmitError(
            f"{package}: Kubeflow takes the KFP YAML (`rocket compile --target kubeflow`); "
            "a .json PipelineJob goes to Vertex AI with --vertex"
        )
    spec = load_package(package)
    if "pipelineSpec" in spec:
        raise SubmitError(f"{package}: a Vertex PipelineJob; submit it with --vertex")
    if not host or not host.startswith(("http://", "https://")):
        raise SubmitError(f"--host {host}: give the KFP API URL, e.g. http://localhost:8080")
    values = resolve_params(spec, params or {})
    pipeline_root = pipeline_root or spec.get("defaultPipelineRoot")
    if not pipeline_root or not pipeline_root.startswith(("gs://", "s3://", "minio://")):
        raise SubmitError(
            f"--pipeline-root {pipeline_root}: give a gs://, s3:// or minio:// root (KFP "
            "refuses local paths)"
        )
    name = spec["pipelineInfo"]["name"]
    stamp = _timestamp()
    check_kfp_host(host, token)

    import kfp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2 backends"
        client = kfp.Client(host=host, namespace=namespace or "kubeflow", existing_token=token)
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(
            str(package), pipeline_name=name, namespace=namespace or None
        )
        pipeline_id = pipeline.pipeline_id
        versions = client.list_pipeline_versions(pipeline_id).pipeline_versions or []
        if len(versions) != 1:
            raise RuntimeError(
                f"KFP created pipeline {pipeline_id} with {len(versions)} versions, expected 1"
            )
        version_id = versions[0].pipeline_version_id
    else:
        version = client.upload_pipeline_version(
            str(package), pipeline_version_name=f"{name}-{stamp}", pipeline_id=pipeline_id
        )
        version_id = version.pipeline_version_id
    experiment_obj = client.create_experiment(name=experiment, namespace=namespace or None)
    run = client.run_pipeline(
        experiment_id=experiment_obj.experiment_id,
        job_name=run_name or f"{name}-{stamp}",
        params=values,
        pipeline_id=pipeline_id,
        version_id=version_id,
        pipeline_root=pipeline_root,
    )
    url = f"{client._get_url_prefix()}/#/runs/details/{run.run_id}"
    return SubmittedRun(
        run.run_id,
        url,
        {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": version_id,
            "experiment_id": experiment_obj.experiment_id,
        },
    )


def build_vertex_job(
    package: str | Path,
    project: str,
    region: str,
    params: dict[str, str] | None = None,
    run_name: str | None = None,
    credentials: Any = None,
):
    """The aiplatform.PipelineJob that `submit_vertex` sends (nothing is sent here)."""
    package = Path(package)
    job_dict = load_package(package)
    if "pipelineSpec" not in job_dict:
        raise SubmitError(
            f"{package}: a KFP pipeline spec; Vertex takes the PipelineJob JSON "
            "(`rocket compile --target vertex`)"
        )
    if not project:
        raise SubmitError("--project: required with --vertex")
    if not region:
        raise SubmitError("--region: required with --vertex")
    gcs_root = job_dict.get("runtimeConfig", {}).get("gcsOutputDirectory", "")
    if not gcs_root.startswith("gs://"):
        raise SubmitError(f"{package}: runtimeConfig.gcsOutputDirectory must be a gs:// path")
    values = resolve_params(job_dict["pipelineSpec"], params or {})
    name = job_dict["pipelineSpec"]["pipelineInfo"]["name"]
    job_id = run_name or f"{name}-{_timestamp()}"
    if not re.fullmatch(r"[a-z][-a-z0-9]{0,127}", job_id):
        raise SubmitError(f"--run-name {job_id}: Vertex needs lowercase letters, digits and '-'")

    from google.cloud import aiplatform

    return aiplatform.PipelineJob(
        display_name=job_id,
        template_path=str(package),
        job_id=job_id,
        parameter_values=values,
        project=project,
        location=region,
        credentials=credentials,
    )


def check_service_account(service_account: str | None) -> None:
    if service_account is not None and not _SERVICE_ACCOUNT.fullmatch(service_account):
        raise SubmitError(f"--service-account {service_account}: give the account's email")


def submit_vertex(job, service_account: str | None = None) -> SubmittedRun:
    """Creates the Vertex pipeline run (needs Google credentials)."""
    check_service_account(service_account)
    job.submit(service_account=service_account)
    return SubmittedRun(job.job_id, job._dashboard_uri(), {"resource_name": job.resource_name})
