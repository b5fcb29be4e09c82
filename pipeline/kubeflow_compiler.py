"""Compile the pipeline for Kubeflow Pipelines (KFP v2 YAML) or Vertex AI (PipelineJob JSON).

Compiling must work on a laptop with no cloud credentials and no network, so nothing here
touches the pipeline root:
- Transform and Trainer get their code by import path (`PipelineSettings.module_in_image`):
  with a `module_file`, TFX would build a wheel of model_code/ and write it under the
  pipeline root (gs://) while compiling. The image built from infra/Dockerfile has the
  project installed, so every component, ours included, imports the same code at run time.
- The package is written to a local file by this module, not through TFX's fileio.

The data folder and the Trainer's TrainArgs are KFP runtime parameters (see
tfx_pipeline.DATA_ROOT_PARAMETER, TRAIN_ARGS_PARAMETER). TFX 1.16 does not write their
defaults into the spec, so they are added here: a run that sets nothing uses the values
given at compile time.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from components import object_store
from pipeline.backends import BACKENDS, KUBEFLOW, VERTEX
from pipeline.component_ids import EXAMPLE_GEN, PUSHER, SERVED_BASELINE
from pipeline.errors import UsageError
from pipeline.settings import (
    EVAL_FRACTION,
    MAX_AUC_DROP,
    MIN_AUC,
    MIN_CLASS_EXAMPLES,
    PIPELINE_NAME,
    PipelineSettings,
)

DIRECT_RUNNER, DATAFLOW_RUNNER = "DirectRunner", "DataflowRunner"
# Beam's portable runners (apache_beam/runners/portability/): the job goes to a job server,
# e.g. the cluster's Flink or Spark job server; Flink's and Spark's add their own options.
PORTABLE_RUNNER, FLINK_RUNNER, SPARK_RUNNER = "PortableRunner", "FlinkRunner", "SparkRunner"
PORTABLE_RUNNERS = (PORTABLE_RUNNER, FLINK_RUNNER, SPARK_RUNNER)
BEAM_RUNNERS = (DIRECT_RUNNER, DATAFLOW_RUNNER, *PORTABLE_RUNNERS)
# Where a portable runner's SDK workers run (Beam's --environment_type): a worker pool
# service, a process the runner starts on its node, or a container the runner starts.
BEAM_ENVIRONMENTS = ("EXTERNAL:HOST:PORT", "PROCESS[:COMMAND]", "DOCKER[:IMAGE]")
BEAM_BOOT = "/opt/apache/beam/boot"  # Beam's SDK harness boot program, in our image
_HOST_PORT = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:([0-9]{1,5})")
_SPARK_MASTER = re.compile(r"spark://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:([0-9]{1,5})")
DIRECT_RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")
DEFAULT_DATA_PATTERN = "*.csv"
# A --data path whose last part ends so is one file, not a folder.
_FILE_SUFFIXES = (".csv", ".gz", ".txt", ".tsv", ".bz2")
_GLOB_CHARS = re.compile(r"[*?\[]")
_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")  # KFP v2's rule, checked by TFX
_OBJECT_STORE_SCHEMES = ("s3://", "minio://")
# A stock Kubeflow's MinIO (the standalone and full manifests): its in-cluster service and
# the secret KFP's launcher reads (keys accesskey / secretkey; the profile controller
# copies it into every user namespace).
MINIO_ENDPOINT = "http://minio-service.kubeflow:9000"
MINIO_SECRET = object_store.MINIO_SECRET
SECRET_KEY_TO_ENV = {"accesskey": "AWS_ACCESS_KEY_ID", "secretkey": "AWS_SECRET_ACCESS_KEY"}
ENDPOINT_ENV = object_store.ENDPOINT_ENV
# The steps that open s3:// / minio:// paths themselves (boto3): ExampleGen's data folder
# and the serving folder. Artifacts are the launcher's business and need nothing.
OBJECT_STORE_STEPS = (EXAMPLE_GEN, SERVED_BASELINE, PUSHER)
# Every step runs our wrapper of TFX's container entrypoint (pipeline/container_entrypoint.py),
# which repairs what the open-source KFP backend hands TFX and is a no-op elsewhere.
STEP_COMMAND = ["python", "-m", "pipeline.container_entrypoint"]
# Executor kinds open-source KFP runs (backend/src/v2/compiler/visitor.go refuses the rest:
# "non-container and non-importer executor not implemented").
KFP_EXECUTOR_KINDS = ("container", "importer")

PARAMETER_DESCRIPTIONS = {
    "data_root": "folder of EasyRec CSV files that ExampleGen reads (input_base)",
    "train_args": 'Trainer TrainArgs as JSON, e.g. {"num_steps": 1000}',
    "min_auc": "the gate: the light net's eval AUC must reach this",
    "max_auc_drop": "the gate: how far the light AUC may fall below the served model's",
    "min_lift_over_linear": "the gate: light AUC must be at least linear baseline AUC + this",
    "max_bad_rows": "malformed rows ExampleGen may set aside (bad_rows/) before it fails",
}


class CompileError(UsageError):
    """A compile option cannot be used; the message names it."""


def _is_host_port(text: str | None, pattern: re.Pattern = _HOST_PORT) -> bool:
    match = pattern.fullmatch(text or "")
    return bool(match) and 0 < int(match.group(2)) < 65536


def parse_beam_environment(text: str, image: str) -> tuple[str, str]:
    """--beam-environment -> (Beam's environment_type, environment_config).
    PROCESS and DOCKER default to our image's boot program and to the image itself: the
    SDK workers must import our ExampleGen parser and preprocessing_fn, as the steps do."""
    kind, _, config = text.partition(":")
    if kind == "EXTERNAL":
        if not _is_host_port(config):
            raise CompileError(
                f"--beam-environment {text}: give the SDK worker pool's address, EXTERNAL:HOST:PORT"
            )
        return kind, config
    if kind == "PROCESS":
        if config and (not config.startswith("/") or any(c.isspace() for c in config)):
            raise CompileError(
                f"--beam-environment {text}: PROCESS:COMMAND takes the absolute path of "
                f"Beam's boot program on the runner's nodes (default {BEAM_BOOT})"
            )
        return kind, json.dumps({"command": config or BEAM_BOOT}, separators=(",", ":"))
    if kind == "DOCKER":
        if config.startswith("//") or any(c.isspace() for c in config):
            raise CompileError(f"--beam-environment {text}: DOCKER:IMAGE takes an image name")
        return kind, config or image
    raise CompileError(f"--beam-environment {text}: give {', '.join(BEAM_ENVIRONMENTS)}")


@dataclass(frozen=True)
class BeamOptions:
    """Where the Beam-based components (ExampleGen, StatisticsGen, Transform, Evaluator)
    run: in their own pod (DirectRunner), on Dataflow, or on a Beam job server such as
    the cluster's Flink or Spark (PortableRunner, FlinkRunner, SparkRunner)."""

    runner: str = DIRECT_RUNNER
    # DirectRunner only: multi_processing uses every core of the pod in separate processes
    # (TFX's template setting); in_memory starts no worker process, for small data.
    direct_running_mode: str | None = None  # default multi_processing
    project: str | None = None
    region: str | None = None
    temp_location: str | None = None
    machine_type: str | None = None
    max_workers: int | None = None
    # The portable runners: the job server's HOST:PORT and where the SDK workers run
    # (parse_beam_environment; default DOCKER with our image).
    job_endpoint: str | None = None
    environment: str | None = None
    flink_master: str | None = None  # FlinkRunner: HOST:PORT; default the job server's
    spark_master_url: str | None = None  # SparkRunner: spark://HOST:PORT; likewise

    def validate(self) -> None:
        if self.runner not in BEAM_RUNNERS:
            raise CompileError(f"--beam-runner {self.runner}: choose {', '.join(BEAM_RUNNERS)}")
        if self.runner != DIRECT_RUNNER and self.direct_running_mode is not None:
            raise CompileError("--direct-running-mode: only used with --beam-runner DirectRunner")
        dataflow_only = {
            "--dataflow-project": self.project,
            "--dataflow-region": self.region,
            "--dataflow-temp-location": self.temp_location,
            "--dataflow-machine-type": self.machine_type,
            "--dataflow-max-workers": self.max_workers,
        }
        if self.direct_running_mode not in (None, *DIRECT_RUNNING_MODES):
            raise CompileError(
                f"--direct-running-mode {self.direct_running_mode}: choose "
                + ", ".join(DIRECT_RUNNING_MODES)
            )
        for runners, options in (
            ((DATAFLOW_RUNNER,), dataflow_only),
            (
                PORTABLE_RUNNERS,
                {"--beam-job-endpoint": self.job_endpoint, "--beam-environment": self.environment},
            ),
            ((FLINK_RUNNER,), {"--flink-master": self.flink_master}),
            ((SPARK_RUNNER,), {"--spark-master-url": self.spark_master_url}),
        ):
            given = [name for name, value in options.items() if value is not None]
            if given and self.runner not in runners:
                raise CompileError(
                    f"{', '.join(given)}: only used with --beam-runner "
                    + " or ".join(", ".join(runners).rsplit(", ", 1))
                )
        if self.runner == DATAFLOW_RUNNER:
            self._validate_dataflow(dataflow_only)
        elif self.runner in PORTABLE_RUNNERS:
            self._validate_portable()

    def _validate_dataflow(self, dataflow_only: dict) -> None:
        for name in ("--dataflow-project", "--dataflow-region", "--dataflow-temp-location"):
            if not dataflow_only[name]:
                raise CompileError(f"--beam-runner {DATAFLOW_RUNNER} needs {name}")
        if not self.temp_location.startswith("gs://"):
            raise CompileError(
                f"--dataflow-temp-location {self.temp_location}: Dataflow needs a gs:// path"
            )
        if self.max_workers is not None and self.max_workers < 1:
            raise CompileError(f"--dataflow-max-workers {self.max_workers}: must be 1 or more")

    def _validate_portable(self) -> None:
        if self.job_endpoint is None:
            # Without one, Beam's FlinkRunner and SparkRunner start a Java job server in
            # the step's pod (flink_runner.py, spark_runner.py); infra/Dockerfile adds no Java.
            raise CompileError(
                f"--beam-runner {self.runner} needs --beam-job-endpoint, the HOST:PORT of "
                "the cluster's Beam job server"
            )
        if not _is_host_port(self.job_endpoint):
            raise CompileError(
                f"--beam-job-endpoint {self.job_endpoint}: give the job server's HOST:PORT, "
                "e.g. flink-beam-jobserver:8099"
            )
        if self.environment is not None:
            parse_beam_environment(self.environment, "")
        if self.flink_master is not None and not _is_host_port(self.flink_master):
            raise CompileError(
                f"--flink-master {self.flink_master}: give the Flink JobManager's HOST:PORT "
                "(its REST port), e.g. flink-jobmanager:8081"
            )
        if self.spark_master_url is not None and not _is_host_port(
            self.spark_master_url, _SPARK_MASTER
        ):
            raise CompileError(
                f"--spark-master-url {self.spark_master_url}: give spark://HOST:PORT, "
                "e.g. spark://spark-master:7077"
            )

    def pipeline_args(self, image: str) -> tuple[str, ...]:
        """beam_pipeline_args for every Beam-based component."""
        if self.runner == DIRECT_RUNNER:
            # One pod: use all of its cores, in separate processes (TFX's template setting).
            return (
                f"--runner={DIRECT_RUNNER}",
                f"--direct_running_mode={self.direct_running_mode or DIRECT_RUNNING_MODES[0]}",
                "--direct_num_workers=0",
            )
        if self.runner in PORTABLE_RUNNERS:
            return self._portable_args(image)
        args = [
            f"--runner={DATAFLOW_RUNNER}",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
            # Dataflow workers run the same image (it has Beam's boot entrypoint), so our
            # ExampleGen parser and preprocessing_fn import there as in the pipeline pods.
            f"--sdk_container_image={image}",
            "--sdk_location=container",
            "--experiments=use_runner_v2",
        ]
        if self.machine_type:
            args.append(f"--machine_type={self.machine_type}")
        if self.max_workers is not None:
            args.append(f"--max_num_workers={self.max_workers}")
        return tuple(args)

    def _portable_args(self, image: str) -> tuple[str, ...]:
        kind, config = parse_beam_environment(self.environment or "DOCKER", image)
        args = [
            f"--runner={self.runner}",
            f"--job_endpoint={self.job_endpoint}",
            f"--environment_type={kind}",
            # Not --environment_option: Beam 2.74's ExternalEnvironment.from_options reads
            # environment_config first and fails on None (transforms/environments.py).
            f"--environment_config={config}",
            # Naming the image keeps TFX from building an sdist of itself for the workers
            # (tfx/utils/dependency_utils.py): they run our image, TFX and project included.
            f"--sdk_container_image={image}",
            "--sdk_location=container",
        ]
        if self.flink_master:
            args.append(f"--flink_master={self.flink_master}")
        if self.spark_master_url:
            args.append(f"--spark_master_url={self.spark_master_url}")
        return tuple(args)


_MACHINE_TYPE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)+")
_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-:.]{4,61}[a-z0-9]")
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
DEFAULT_TRAINING_MACHINE_TYPE = "n1-standard-8"


@dataclass(frozen=True)
class VertexTraining:
    """Run the Trainer as a Vertex AI custom training job (TFX's Google Cloud extension
    Trainer) instead of in its pipeline pod: worker pool 0 is the chief (one replica),
    pool 1 the other `workers - 1` replicas, all on the pipeline image. Vertex sets
    TF_CONFIG on each, and run_fn trains under MultiWorkerMirroredStrategy."""

    enabled: bool = False
    workers: int | None = None  # default 1
    machine_type: str | None = None  # default DEFAULT_TRAINING_MACHINE_TYPE
    project: str | None = None
    region: str | None = None

    def validate(self) -> None:
        given = {
            "--training-workers": self.workers,
            "--training-machine-type": self.machine_type,
            "--project": self.project,
            "--region": self.region,
        }
        if not self.enabled:
            used = [name for name, value in given.items() if value is not None]
            if used:
                raise CompileError(f"{', '.join(used)}: only used with --vertex-training")
            return
        for name in ("--project", "--region"):
            if not given[name]:
                raise CompileError(f"--vertex-training needs {name} (the Vertex AI job's)")
        if not _GCP_PROJECT.fullmatch(self.project):
            raise CompileError(f"--project {self.project}: not a Google Cloud project id")
        if not _REGION.fullmatch(self.region):
            raise CompileError(f"--region {self.region}: not a region, e.g. europe-west4")
        if self.workers is not None and self.workers < 1:
            raise CompileError(f"--training-workers {self.workers}: must be 1 or more")
        if self.machine_type is not None and not _MACHINE_TYPE.fullmatch(self.machine_type):
            raise CompileError(
                f"--training-machine-type {self.machine_type}: not a machine type, "
                "e.g. n1-standard-8"
            )

    def worker_pool_specs(self, image: str) -> list[dict]:
        """Vertex CustomJob worker pools: the chief, then the other workers (if any)."""
        workers = self.workers or 1
        machine = {"machine_type": self.machine_type or DEFAULT_TRAINING_MACHINE_TYPE}
        pools = [{"machine_spec": machine, "replica_count": 1}]
        if workers > 1:
            pools.append({"machine_spec": dict(machine), "replica_count": workers - 1})
        for pool in pools:
            # TFX sets the command (python -m tfx.scripts.run_executor); the image has the
            # project installed, so run_fn imports as in the pipeline pods.
            pool["container_spec"] = {"image_uri": image}
        return pools

    def custom_config(self, image: str) -> dict | None:
        """The Trainer custom_config entries that the extension's executor reads."""
        if not self.enabled:
            return None
        from tfx import v1 as tfx

        cloud = tfx.extensions.google_cloud_ai_platform
        return {
            cloud.ENABLE_VERTEX_KEY: True,
            cloud.VERTEX_REGION_KEY: self.region,
            cloud.TRAINING_ARGS_KEY: {
                "project": self.project,
                "job_spec": {"worker_pool_specs": self.worker_pool_specs(image)},
            },
        }


@dataclass(frozen=True)
class ObjectStoreAccess:
    """How the steps that read the data or the serving folder reach an S3-compatible store:
    the endpoint (environment AWS_ENDPOINT_URL) and the Kubernetes secret whose keys
    accesskey / secretkey become AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (kfp-kubernetes
    secretAsEnv). Defaults by scheme: minio:// -> the stock MinIO service and
    mlpipeline-minio-artifact; s3:// -> AWS and the pod's own identity (IRSA, node role)."""

    endpoint: str | None = None
    secret: str | None = None

    def validate(self) -> None:
        if self.endpoint is not None and not re.fullmatch(r"https?://[^\s/]+/?", self.endpoint):
            raise CompileError(
                f"--object-store-endpoint {self.endpoint}: give http(s)://HOST[:PORT], "
                f"e.g. {MINIO_ENDPOINT}"
            )
        if self.secret is not None and not re.fullmatch(
            r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", self.secret
        ):
            raise CompileError(f"--object-store-secret {self.secret}: not a Kubernetes name")

    def resolved(self, paths: tuple[str, ...]) -> tuple[str | None, str | None]:
        """(endpoint, secret) for a package whose paths are `paths`."""
        minio = any(p.startswith("minio://") for p in paths)
        return (
            self.endpoint or (MINIO_ENDPOINT if minio else None),
            self.secret or (MINIO_SECRET if minio else None),
        )


@dataclass(frozen=True)
class CompileOptions:
    target: str
    output: Path
    pipeline_root: str
    data: str
    image: str
    config: Any = None  # rocket_config.RocketConfig; None: the seed's defaults
    serving_dir: str | None = None  # default: <pipeline_root>/serving
    data_pattern: str | None = None  # default: *.csv for a folder
    # The gate and input options of `rocket run` (pipeline/cli/common.py), as in
    # PipelineSettings: fixed in the package (Evaluator's EvalConfig, RocketEvaluator's and
    # ExampleGen's properties).
    min_auc: float = MIN_AUC
    max_auc_drop: float = MAX_AUC_DROP
    min_lift_over_linear: float | None = None  # None: no such gate
    min_class_examples: int = MIN_CLASS_EXAMPLES
    max_bad_rows: int = 0
    eval_fraction: float = EVAL_FRACTION
    pipeline_name: str = PIPELINE_NAME
    enable_cache: bool = True
    tune_trials: int = 0  # 0: no Tuner step
    beam: BeamOptions = field(default_factory=BeamOptions)
    training: VertexTraining = field(default_factory=VertexTraining)
    object_store: ObjectStoreAccess = field(default_factory=ObjectStoreAccess)


@dataclass(frozen=True)
class CompiledPipeline:
    path: Path
    target: str
    job: dict  # the PipelineJob dict (displayName, pipelineSpec, runtimeConfig, labels)
    parameters: dict[str, Any]  # runtime parameter -> default

    @property
    def spec(self) -> dict:
        return self.job["pipelineSpec"]


def split_data_path(data: str, pattern: str | None = None) -> tuple[str, str]:
    """--data -> (input_base, file pattern). A folder reads `pattern` (default *.csv); a
    path ending in a glob or a data file name (.csv, .gz, ...) is split into folder and
    name. Nothing is listed: a gs:// path cannot be looked at without credentials."""
    data = (data or "").strip()
    if not data or re.fullmatch(r"\w+:/*", data):
        raise CompileError(f"--data {data}: give a folder, e.g. gs://bucket/data")
    head, _, last = data.rstrip("/").rpartition("/")
    is_file = not data.endswith("/") and (
        bool(_GLOB_CHARS.search(last)) or last.lower().endswith(_FILE_SUFFIXES)
    )
    if is_file:
        if pattern:
            raise CompileError(
                f"--data-pattern {pattern}: --data {data} already names the files; "
                "give --data the folder instead"
            )
        if not head:
            raise CompileError(f"--data {data}: give the full path, e.g. gs://bucket/data/{last}")
        if _GLOB_CHARS.search(head):
            raise CompileError(f"--data {data}: only the last part of the path may be a glob")
        return head, last
    return data.rstrip("/"), pattern or DEFAULT_DATA_PATTERN


def _validate(options: CompileOptions) -> None:
    if options.target not in BACKENDS:
        raise CompileError(f"--target {options.target}: choose {' or '.join(BACKENDS)}")
    suffixes = (".yaml", ".yml") if options.target == KUBEFLOW else (".json",)
    if options.output.suffix.lower() not in suffixes:
        raise CompileError(
            f"--output {options.output}: a {options.target} package is "
            f"{' or '.join(suffixes)} (KFP v2 YAML for kubeflow, PipelineJob JSON for vertex)"
        )
    if "://" in str(options.output) or str(options.output).startswith("gs:/"):
        raise CompileError(f"--output {options.output}: write the package to a local file")
    if not options.pipeline_root:
        raise CompileError("--pipeline-root: required (e.g. gs://bucket/rocket)")
    check_pipeline_root(options.target, options.pipeline_root)
    if not options.image or any(c.isspace() for c in options.image):
        raise CompileError(f"--image {options.image!r}: give the image built from infra/")
    if not _PIPELINE_NAME.fullmatch(options.pipeline_name):
        raise CompileError(
            f"--pipeline-name {options.pipeline_name}: use lowercase letters, digits and '-'"
        )
    # The checks of the CLI's types (pipeline/cli/common.py), for callers of this module.
    for name, value in (("--min-auc", options.min_auc), ("--max-auc-drop", options.max_auc_drop)):
        if not 0 <= value <= 1:
            raise CompileError(f"{name} {value}: must be between 0 and 1")
    if not 0 < options.eval_fraction < 1:
        raise CompileError(f"--eval-fraction {options.eval_fraction}: must be between 0 and 1")
    for name, value in (
        ("--min-class-examples", options.min_class_examples),
        ("--max-bad-rows", options.max_bad_rows),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CompileError(f"{name} {value}: must be 0 or more")
    lift = options.min_lift_over_linear
    if lift is not None and not math.isfinite(lift):
        # A package is JSON: NaN and infinity are not numbers there.
        raise CompileError(f"--min-lift-over-linear {lift}: must be a finite number")
    options.beam.validate()
    options.training.validate()
    options.object_store.validate()
    _check_object_store_paths(options)


def _object_store_paths(options: CompileOptions) -> dict[str, str]:
    """The package's s3:// / minio:// paths by option name."""
    paths = {
        "--pipeline-root": options.pipeline_root,
        "--data": options.data,
        "--serving-dir": options.serving_dir or options.pipeline_root,
    }
    return {name: p for name, p in paths.items() if p and p.startswith(_OBJECT_STORE_SCHEMES)}


def _check_object_store_paths(options: CompileOptions) -> None:
    """What s3:// / minio:// paths cannot be used with, said before anything is built."""
    paths = _object_store_paths(options)
    given = [
        name
        for name, value in (
            ("--object-store-endpoint", options.object_store.endpoint),
            ("--object-store-secret", options.object_store.secret),
        )
        if value is not None
    ]
    if not paths:
        if given:
            raise CompileError(
                f"{', '.join(given)}: only used with s3:// or minio:// paths "
                "(--pipeline-root, --data, --serving-dir)"
            )
        return
    name, path = next(iter(paths.items()))
    if options.target == VERTEX:
        raise CompileError(
            f"{name} {path}: Vertex AI reads and writes Google Cloud Storage only; "
            "use gs:// paths (or --target kubeflow for a self-hosted cluster)"
        )
    if options.beam.runner != DIRECT_RUNNER:
        raise CompileError(
            f"--beam-runner {options.beam.runner} with {name} {path}: s3:// and minio:// "
            "paths are read in the step's own pod (artifacts as the launcher's local copies, "
            f"the data copied in with boto3), where only {DIRECT_RUNNER} workers see them; "
            f"use gs:// paths for {options.beam.runner}"
        )
    for name, path in paths.items():
        try:
            object_store.parse_uri(path, name)
        except object_store.ObjectStoreError as error:
            raise CompileError(str(error)) from None


def check_pipeline_root(target: str, root: str) -> None:
    """Vertex AI takes gs:// only. Open-source KFP takes gs://, s3:// and minio://
    (backend/src/v2/objectstore/config.go; a local path is "unrecognized pipeline root
    format"): for s3:// and minio:// its launcher copies artifacts in and out of the
    step's pod, and our entrypoint hands TFX those local copies
    (pipeline/container_entrypoint.py)."""
    if root.startswith("gs://") and len(root) > len("gs://"):
        return
    scheme = root.split("://", 1)[0] + "://" if "://" in root else None
    if target == KUBEFLOW and scheme in _OBJECT_STORE_SCHEMES:
        if not re.fullmatch(r"[a-z0-9]+://[^/?]+(/[^?]*)?", root):
            raise CompileError(f"--pipeline-root {root}: give {scheme}BUCKET/PATH")
        return
    if target == VERTEX:
        raise CompileError(f"--pipeline-root {root}: Vertex AI needs a gs:// pipeline root")
    raise CompileError(
        f"--pipeline-root {root}: Kubeflow Pipelines needs a gs://, s3:// or minio:// "
        "pipeline root (it refuses local paths: unrecognized pipeline root format)"
    )


def build_settings(options: CompileOptions) -> PipelineSettings:
    """PipelineSettings of a compiled pipeline: code from the image, runtime parameters."""
    import rocket_seed

    data_root, data_pattern = split_data_path(options.data, options.data_pattern)
    root = options.pipeline_root.rstrip("/")
    return PipelineSettings(
        pipeline_root=root,
        data_root=data_root,
        data_pattern=data_pattern,
        serving_dir=(options.serving_dir or f"{root}/serving").rstrip("/"),
        config=options.config or rocket_seed.default_config(),
        pipeline_name=options.pipeline_name,
        min_auc=options.min_auc,
        max_auc_drop=options.max_auc_drop,
        min_lift_over_linear=options.min_lift_over_linear,
        min_class_examples=options.min_class_examples,
        max_bad_rows=options.max_bad_rows,
        eval_fraction=options.eval_fraction,
        metadata_path=None,  # KFP and Vertex bring their own MLMD
        enable_cache=options.enable_cache,
        beam_pipeline_args=options.beam.pipeline_args(options.image),
        module_in_image=True,
        runtime_parameters=True,
        vertex_training=options.training.custom_config(options.image),
        tune_trials=options.tune_trials,
    )


def _runtime_parameter_defaults(tfx_pipeline_obj) -> dict[str, Any]:
    from tfx.orchestration import data_types

    defaults: dict[str, Any] = {}
    for component in tfx_pipeline_obj.components:
        for value in component.exec_properties.values():
            if isinstance(value, data_types.RuntimeParameter):
                defaults[value.name] = value.default
    return defaults


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _adapt_to_open_source_kfp(spec: dict) -> None:
    """Checks that every executor is a kind open-source KFP runs, and turns off the cache of
    ExampleGen: KFP never runs its driver (the lifecycle hook that fingerprints the input
    files), so its cache key holds only the data folder's name and a rerun after new files
    arrived there would reuse the old examples."""
    for label, executor in spec["deploymentSpec"]["executors"].items():
        kinds = [kind for kind in executor if kind not in KFP_EXECUTOR_KINDS]
        if kinds:
            raise CompileError(
                f"executor {label} is a {kinds[0]} executor, which open-source Kubeflow "
                "Pipelines refuses (non-container and non-importer executor not implemented)"
            )
    task = spec["root"]["dag"]["tasks"].get(EXAMPLE_GEN)
    if task is not None:
        task["cachingOptions"] = {}


def _object_store_platform(spec: dict, options: CompileOptions) -> dict | None:
    """Gives the steps that open s3:// / minio:// paths themselves the endpoint (container
    env) and the credentials (a kfp-kubernetes platform spec: secretAsEnv, read by the
    backend's driver, backend/src/v2/driver/k8s.go). Returns the platform spec, or None
    when nothing needs it."""
    paths = _object_store_paths(options)
    if not paths:
        return None
    endpoint, secret = options.object_store.resolved(tuple(paths.values()))
    executors = {}
    for task_name in OBJECT_STORE_STEPS:
        task = spec["root"]["dag"]["tasks"].get(task_name)
        if task is None:
            continue
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        container = spec["deploymentSpec"]["executors"][label]["container"]
        if endpoint:
            container["env"] = [{"name": ENDPOINT_ENV, "value": endpoint.rstrip("/")}]
        if secret:
            executors[label] = {
                "secretAsEnv": [
                    {
                        "secretName": secret,  # older backends read this, newer the parameter
                        "secretNameParameter": {"runtimeValue": {"constant": secret}},
                        "keyToEnv": [
                            {"secretKey": key, "envVar": env}
                            for key, env in SECRET_KEY_TO_ENV.items()
                        ],
                    }
                ]
            }
    if not executors:
        return None
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def compile_pipeline(options: CompileOptions) -> CompiledPipeline:
    """Builds the TFX pipeline, compiles it with KubeflowV2DagRunner and writes the package:
    kubeflow -> the PipelineSpec as YAML (what kfp.Client uploads); vertex -> the
    PipelineJob as JSON (pipelineSpec + runtimeConfig with gcsOutputDirectory)."""
    _validate(options)
    from tfx import v1 as tfx

    from pipeline import tfx_pipeline

    settings = build_settings(options)
    tfx_pipeline_obj = tfx_pipeline.create_pipeline(settings)
    defaults = _runtime_parameter_defaults(tfx_pipeline_obj)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=options.image,
            default_commands=STEP_COMMAND,
            use_pipeline_spec_2_1=True,
        )
    )
    # write_out=False: TFX would write through fileio; the package is a local file.
    job = runner.run(tfx_pipeline_obj, parameter_values=defaults, write_out=False)
    # TFX puts the root only in the Vertex runtimeConfig; KFP reads defaultPipelineRoot
    # (without it, KFP's own MinIO default, which TFX's file I/O cannot write to).
    job["pipelineSpec"]["defaultPipelineRoot"] = settings.pipeline_root
    parameters = job["pipelineSpec"]["root"].get("inputDefinitions", {}).get("parameters", {})
    for name, default in defaults.items():
        parameters[name]["defaultValue"] = default
        if name in PARAMETER_DESCRIPTIONS:
            parameters[name]["description"] = PARAMETER_DESCRIPTIONS[name]
    platform = None
    if options.target == KUBEFLOW:
        _adapt_to_open_source_kfp(job["pipelineSpec"])
        platform = _object_store_platform(job["pipelineSpec"], options)
        header = (
            f"# Rocket Launching TFX pipeline for Kubeflow Pipelines (KFP v2 spec), compiled by\n"
            f"# `rocket compile --target kubeflow`. Image: {options.image}\n"
            f"# Runtime parameters: "
            + ", ".join(f"{k} (default {v!r})" for k, v in defaults.items())
            + "\n"
        )
        text = header + yaml.safe_dump(job["pipelineSpec"], sort_keys=True)
        if platform:  # the second document of a KFP package: its Kubernetes settings
            text += "---\n" + yaml.safe_dump(platform, sort_keys=True)
    else:
        text = json.dumps(job, indent=2, sort_keys=True) + "\n"
    _write_atomically(options.output, text)
    return CompiledPipeline(options.output, options.target, job, defaults)
