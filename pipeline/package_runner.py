"""`rocket run-package`: execute a compiled package on this machine under the rules of the
backend it is meant for, so the exact file a user will submit is tested first.

A test bench for packages, not an orchestrator. Each step runs its compiled command and
arguments as a local process (this environment's Python standing in for the image's), in
dependency order, with an ExecutorInput built the way the chosen backend builds it:

kubeflow (open-source Kubeflow Pipelines 2.x; files under kubeflow/pipelines backend/src/v2):
- executors other than container and importer are refused with the backend's own
  message (compiler/visitor.go);
- the pipeline root is the run's (what `rocket submit` passes), else the package's
  defaultPipelineRoot, checked as objectstore/config.go checks it;
- only `parameterValues` are filled (driver/resolve.go), component defaults added as the
  launcher adds them for `{{$}}` (component/launcher_v2.go, addDefaultParams);
- upstream artifacts carry their MLMD id as `name`, their uri and metadata, and an EMPTY
  `instanceSchema` (metadata/client.go, GetOutputArtifactsByExecutionId); metadata goes
  through MLMD's conversion (metadata/converter.go: booleans become 1/0, lists and dicts
  come back wrapped, `display_name` is added);
- outputs get `<root>/<pipeline>/<run id>/<task>/<uuid>/<key>` URIs with the declared
  type, plus the `executor-logs` output of type `system.Artifact` (driver/driver.go,
  provisionOutputs); the ExecutorOutput file sits in the task's root; a missing one means
  no output metadata (launcher_v2.go, getExecutorOutputFile);
- lifecycle hooks are never called; a step whose `triggerPolicy.condition` is false is
  skipped and the steps below it are not run (Argo's Omitted).

vertex (Vertex AI Pipelines, closed source: the rules TFX's own container code expects,
tfx/orchestration/kubeflow/v2/container and file_based_example_gen/driver.py):
- artifact types are kept; the file-based ExampleGen driver (`lifecycle.preCacheCheck`)
  runs before the step, writing the ExecutorOutput file the step then reads;
- the root is the PipelineJob's runtimeConfig.gcsOutputDirectory.

What it cannot show: the image itself (the steps import this checkout), the real
driver and launcher (artifact upload/download, retries, pod specs), object-store
behaviour (gs:// is stood in for by the folder `ROOT/gcs/<bucket>/...`: every gs:// path a
step receives is rewritten to it, the package is not), caching (every step runs),
Dataflow, quotas and IAM.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KUBEFLOW, VERTEX = "kubeflow", "vertex"
BACKENDS = (KUBEFLOW, VERTEX)
GCS_STAND_IN = "gcs"  # ROOT/gcs/<bucket>/<path> holds what gs://<bucket>/<path> would
# The image's ENV (infra/Dockerfile), which a local process does not inherit.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
EXECUTOR_LOGS = "executor-logs"  # KFP >= 2.5, driver/driver.go
# kubeflow/pipelines backend/src/v2/objectstore/config.go, ParseBucketPathToConfig
_BUCKET_PATH = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")
_KFP_ROOT_SCHEMES = ("gs://", "s3://", "minio://")
_VERTEX_PROJECT_NUMBER = "000000000000"  # stands in for the project number in Vertex URIs
_PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](\.\w+)?\}\}"
)


class PackageRunError(RuntimeError):
    """The package cannot run under the backend's rules, or a step failed."""


@dataclass
class TaskRecord:
    name: str
    state: str  # succeeded | failed | skipped | not run
    seconds: float = 0.0
    log: str = ""
    outputs: dict[str, list[dict]] = field(default_factory=dict)  # key -> runtime artifacts
    output_parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    run_id: str
    backend: str
    pipeline_root: str
    folder: Path
    tasks: list[TaskRecord] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        # Argo: a skipped step's dependents are Omitted, and the run still succeeds.
        return not any(t.state == "failed" for t in self.tasks)


class MetadataStore:
    """Artifact ids and records under ROOT/metadata.json: what MLMD would keep, so ids
    grow across runs as MLMD's do."""

    def __init__(self, path: Path):
        self.path = path
        self.data = {"next_id": 1, "artifacts": {}}
        if path.exists():
            self.data = json.loads(path.read_text())

    def record(self, artifact: dict, producer: str) -> int:
        artifact_id = self.data["next_id"]
        self.data["next_id"] += 1
        self.data["artifacts"][str(artifact_id)] = {**artifact, "producer": producer}
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        return artifact_id


def load_for_backend(path: Path, backend: str) -> tuple[dict, dict]:
    """(PipelineSpec, runtimeConfig) of a package: KFP YAML for kubeflow, a PipelineJob
    JSON for vertex."""
    from pipeline.submit import load_package

    document = load_package(path)
    if backend == KUBEFLOW:
        if "pipelineSpec" in document:
            raise PackageRunError(f"{path}: a Vertex PipelineJob; run it with --backend vertex")
        return document, {}
    if "pipelineSpec" not in document:
        raise PackageRunError(f"{path}: a KFP pipeline spec; run it with --backend kubeflow")
    return document["pipelineSpec"], document.get("runtimeConfig", {})


def check_executors(spec: dict, backend: str) -> None:
    """Refuses what the backend refuses before anything runs (KFP: compiler/visitor.go,
    wrapped by the apiserver's "Failed to compile job")."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for name in sorted(spec.get("root", {}).get("dag", {}).get("tasks", {})):
        component_name = spec["root"]["dag"]["tasks"][name]["componentRef"]["name"]
        label = spec["components"][component_name].get("executorLabel")
        executor = executors.get(label, {})
        if "container" in executor or "importer" in executor:
            continue
        if backend == KUBEFLOW:
            raise PackageRunError(
                f"Failed to compile job: error processing component name={component_name!r}: "
                f"executor(label={label!r}): non-container and non-importer executor "
                "not implemented"
            )
        kind = next(iter(executor), "unknown")
        raise PackageRunError(
            f"task {name}: a {kind} executor; Vertex AI runs these, but run-package cannot "
            "stand in for them"
        )


def check_kfp_pipeline_root(root: str) -> None:
    """objectstore/config.go: gs://, s3:// and minio:// roots only (s3/minio cannot be
    stood in for here)."""
    if not _BUCKET_PATH.match(root):
        raise PackageRunError(
            f"parse bucket config failed: unrecognized pipeline root format: {root!r}"
        )
    if not root.startswith(_KFP_ROOT_SCHEMES):
        raise PackageRunError(f"parse bucket config failed: unsupported Cloud bucket: {root!r}")
    if not root.startswith("gs://"):
        raise PackageRunError(f"{root}: run-package stands in for gs:// roots only")


def topological_order(tasks: dict) -> list[str]:
    """Task names, each after the tasks it depends on (ties by name)."""
    needs = {}
    for name, task in tasks.items():
        upstream = set(task.get("dependentTasks", []))
        for artifact in task.get("inputs", {}).get("artifacts", {}).values():
            if "taskOutputArtifact" in artifact:
                upstream.add(artifact["taskOutputArtifact"]["producerTask"])
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            if "taskOutputParameter" in parameter:
                upstream.add(parameter["taskOutputParameter"]["producerTask"])
        needs[name] = upstream
    order: list[str] = []
    while len(order) < len(needs):
        ready = sorted(n for n, up in needs.items() if n not in order and up <= set(order))
        if not ready:
            raise PackageRunError("the package's tasks depend on each other in a cycle")
        order.append(ready[0])
    return order


_KIND_OF = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "list",
    dict: "struct",
}
_ACCEPTS = {
    "NUMBER_DOUBLE": "number",
    "NUMBER_INTEGER": "number",
    "BOOLEAN": "bool",
    "LIST": "list",
    "STRUCT": "struct",
}


def check_parameter_types(values: dict, component: dict, task_name: str) -> None:
    """KFP's driver (driver/resolve.go, resolveInputs) on a container task's parameters,
    in place: a STRING input takes any value as JSON text, other types must match; a
    missing input without default is an error. Then the launcher adds the defaults of the
    inputs still missing (component/launcher_v2.go, addDefaultParams)."""
    for name, spec in component.get("inputDefinitions", {}).get("parameters", {}).items():
        if name not in values:
            if "defaultValue" in spec:
                values[name] = spec["defaultValue"]
            elif not spec.get("isOptional"):
                raise PackageRunError(
                    f"task {task_name}: neither value nor default value provided for "
                    f"non-optional parameter {name!r}"
                )
            continue
        value, expected = values[name], spec.get("parameterType", "STRING")
        if expected == "STRING":
            if not isinstance(value, str):
                values[name] = json.dumps(value)
            continue
        if value is None:
            raise PackageRunError(f"task {task_name}: got null for input parameter {name!r}")
        actual = _KIND_OF.get(type(value), type(value).__name__)
        if _ACCEPTS.get(expected) != actual:
            raise PackageRunError(
                f"task {task_name}: input parameter {name!r} type mismatch: "
                f"expect {expected}, got {actual}"
            )


def text_to_value(text: str, parameter_type: str, where: str):
    """An output parameter file's text as its declared type (metadata.TextToPbValue)."""
    try:
        if parameter_type == "NUMBER_INTEGER":
            return int(text)
        if parameter_type == "NUMBER_DOUBLE":
            return float(text)
        if parameter_type == "BOOLEAN":
            return {"true": True, "false": False}[text.strip().lower()]
        if parameter_type in ("LIST", "STRUCT"):
            return json.loads(text)
    except (ValueError, KeyError):
        raise PackageRunError(f"{where}: {text!r} is not a {parameter_type} value") from None
    return text


def mlmd_round_trip(metadata: dict) -> dict:
    """What a downstream KFP task receives for metadata the launcher recorded: MLMD keeps
    bool as int 1/0 and lists/dicts as wrapped structs (metadata/converter.go)."""

    def convert(value):
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, list):
            return {"list": value}
        if isinstance(value, dict):
            return {"struct": value}
        return value

    return {key: convert(value) for key, value in metadata.items()}


class PackageRunner:
    """Runs one package once; see the module docstring for the rules."""

    def __init__(
        self,
        package: Path,
        backend: str,
        root: Path,
        params: dict[str, str] | None = None,
        pipeline_root: str | None = None,
        log: Callable[[str], None] = print,
    ):
        if backend not in BACKENDS:
            raise PackageRunError(f"--backend {backend}: choose {' or '.join(BACKENDS)}")
        self.backend = backend
        self.spec, runtime_config = load_for_backend(Path(package), backend)
        check_executors(self.spec, backend)
        if backend == KUBEFLOW:
            # The backend never reads defaultPipelineRoot; `rocket submit` passes it as the
            # run's root, and so does this.
            self.pipeline_root = pipeline_root or self.spec.get("defaultPipelineRoot") or ""
            check_kfp_pipeline_root(self.pipeline_root)
        else:
            self.pipeline_root = pipeline_root or runtime_config.get("gcsOutputDirectory", "")
            if not self.pipeline_root.startswith("gs://"):
                raise PackageRunError(
                    f"{package}: runtimeConfig.gcsOutputDirectory must be a gs:// path"
                )
        from pipeline.submit import resolve_params

        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        declared = self.spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
        values = {name: p["defaultValue"] for name, p in declared.items() if "defaultValue" in p}
        values.update(runtime_config.get("parameterValues", {}))
        values.update(resolve_params(self.spec, params or {}))
        missing = sorted(set(declared) - set(values))
        if missing:
            raise PackageRunError(f"runtime parameters without a value: {', '.join(missing)}")
        self.parameters = values
        self.log = log
        self.store = MetadataStore(self.root / "metadata.json")
        self.pipeline_name = self.spec["pipelineInfo"]["name"]
        if backend == KUBEFLOW:
            self.run_id = str(uuid.uuid4())
        else:
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
            self.run_id = f"{self.pipeline_name}-{stamp}-{uuid.uuid4().hex[:6]}"  # job id

    # The gs:// stand-in ------------------------------------------------------------------
    def to_local(self, text: str) -> str:
        return text.replace("gs://", f"{self.root}/{GCS_STAND_IN}/")

    def to_remote(self, text: str) -> str:
        return text.replace(f"{self.root}/{GCS_STAND_IN}/", "gs://")

    # ExecutorInput -------------------------------------------------------------------------
    def _task_root(self, task_name: str) -> str:
        salt, root = str(uuid.uuid4()), self.pipeline_root.rstrip("/")
        if self.backend == KUBEFLOW:  # driver/driver.go provisionOutputs (KFP >= 2.4)
            return f"{root}/{self.pipeline_name}/{self.run_id}/{task_name}/{salt}"
        # tfx kubeflow_v2_run_executor: {gcsOutputDirectory}/{project_number}/{job id}/{task}_{uuid}
        return f"{root}/{_VERTEX_PROJECT_NUMBER}/{self.run_id}/{task_name}_{salt}"

    def _input_parameters(self, task_name: str, task: dict, component: dict) -> dict:
        values = {}
        for key, source in task.get("inputs", {}).get("parameters", {}).items():
            if "componentInputParameter" in source:
                values[key] = self.parameters[source["componentInputParameter"]]
            elif "runtimeValue" in source:
                values[key] = source["runtimeValue"]["constant"]
            elif "taskOutputParameter" in source:
                producer = source["taskOutputParameter"]["producerTask"]
                values[key] = self.records[producer].output_parameters[
                    source["taskOutputParameter"]["outputParameterKey"]
                ]
            else:
                raise PackageRunError(f"parameter {key}: source {list(source)} not supported")
        if self.backend == KUBEFLOW:
            check_parameter_types(values, component, task_name)
        return values

    def _input_artifacts(self, task: dict) -> dict:
        artifacts = {}
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            if "taskOutputArtifact" not in source:
                raise PackageRunError(f"input artifact {key}: source {list(source)} not supported")
            ref = source["taskOutputArtifact"]
            produced = self.records[ref["producerTask"]].outputs[ref["outputArtifactKey"]]
            artifacts[key] = {"artifacts": [self._as_upstream(a) for a in produced]}
        return artifacts

    def _as_upstream(self, recorded: dict) -> dict:
        artifact_id = recorded["id"]
        if self.backend == KUBEFLOW:  # metadata/client.go + converter.go
            return {
                "name": str(artifact_id),
                "uri": recorded["uri"],
                "metadata": recorded["metadata"],
                "type": {"instanceSchema": ""},
            }
        return {
            "name": f"projects/{_VERTEX_PROJECT_NUMBER}/locations/local/metadataStores/"
            f"default/artifacts/{artifact_id}",
            "uri": recorded["uri"],
            "metadata": recorded["metadata"],
            "type": recorded["type"],
        }

    def _outputs(self, task_name: str, component: dict, task_root: str, work: Path) -> dict:
        definitions = component.get("outputDefinitions", {})
        artifacts = {}
        for key, definition in definitions.get("artifacts", {}).items():
            artifact = {
                "uri": f"{task_root}/{key}",
                "type": definition["artifactType"],
                "metadata": definition.get("metadata", {}),
            }
            if self.backend == KUBEFLOW:
                artifact["name"] = key  # KFP >= 2.15
            artifacts[key] = {"artifacts": [artifact]}
        if self.backend == KUBEFLOW:
            artifacts[EXECUTOR_LOGS] = {
                "artifacts": [
                    {
                        "name": EXECUTOR_LOGS,
                        "uri": f"{task_root}/{EXECUTOR_LOGS}",
                        "type": {"schemaTitle": "system.Artifact"},
                        "metadata": {},
                    }
                ]
            }
        parameters = {
            key: {"outputFile": str(work / "outputs" / key)}  # the pod's /tmp/kfp/outputs/<key>
            for key in definitions.get("parameters", {})
        }
        output_file = (
            f"{task_root}/output_metadata.json"
            if self.backend == KUBEFLOW
            else f"{task_root}/executor_output.json"
        )
        return {"artifacts": artifacts, "parameters": parameters, "outputFile": output_file}

    # Running ------------------------------------------------------------------------------
    def _command(self, command: list[str], args: list[str], executor_input: dict) -> list[str]:
        def resolve(arg: str) -> str:
            arg = arg.replace("{{$}}", json.dumps(executor_input))

            def value(match: re.Match) -> str:
                side, kind, key, attr = match.groups()
                if kind == "parameters" and side == "inputs":
                    v = executor_input["inputs"]["parameterValues"][key]
                    return v if isinstance(v, str) else json.dumps(v)
                if kind == "parameters":
                    return executor_input["outputs"]["parameters"][key]["outputFile"]
                return executor_input[side]["artifacts"][key]["artifacts"][0]["uri"]

            return _PLACEHOLDER.sub(value, arg)

        resolved = [self.to_local(resolve(a)) for a in [*command, *args]]
        if resolved and resolved[0] in ("python", "python3"):
            resolved[0] = sys.executable  # this environment stands in for the image's Python
        return resolved

    def _run_process(self, argv: list[str], log_path: Path) -> int:
        env = {**os.environ, **IMAGE_ENV}
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(argv[:4])} ...\n".encode())
            log.flush()
            return subprocess.run(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root
            ).returncode

    def _condition_holds(self, task_name: str, task: dict, executor_input: dict) -> bool:
        condition = task.get("triggerPolicy", {}).get("condition")
        if not condition:
            return True
        return evaluate_condition(condition, executor_input, task_name)

    def run(self) -> RunRecord:
        tasks = self.spec["root"]["dag"]["tasks"]
        folder = self.root / "runs" / self.run_id
        folder.mkdir(parents=True)
        record = RunRecord(self.run_id, self.backend, self.pipeline_root, folder)
        self.records: dict[str, TaskRecord] = {}
        executors = self.spec["deploymentSpec"]["executors"]
        self.log(
            f"[run-package] {self.backend} run {self.run_id} of {self.pipeline_name}: "
            f"{len(tasks)} tasks, pipeline root {self.pipeline_root}"
        )
        blocked: set[str] = set()
        order = topological_order(tasks)
        for name in order:
            task = tasks[name]
            upstream = set(task.get("dependentTasks", []))
            if upstream & blocked:
                self.records[name] = TaskRecord(name, "not run")
                blocked.add(name)
                record.tasks.append(self.records[name])
                self.log(f"[run-package] {name}: not run (an upstream task did not succeed)")
                continue
            component = self.spec["components"][task["componentRef"]["name"]]
            executor = executors[component["executorLabel"]]
            try:
                result = self._run_task(name, task, component, executor, folder)
            except PackageRunError as error:  # what the backend's driver would fail on
                self.log(f"[run-package] {name}: FAILED before it ran: {error}")
                result = TaskRecord(name, "failed", log=str(error))
            self.records[name] = result
            record.tasks.append(result)
            if result.state != "succeeded":
                blocked.add(name)
            if result.state == "failed":
                break
        for name in order:
            if name not in self.records:
                record.tasks.append(TaskRecord(name, "not run"))
        (folder / "run.json").write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "backend": self.backend,
                    "pipeline_root": self.pipeline_root,
                    "parameters": self.parameters,
                    "tasks": [t.__dict__ for t in record.tasks],
                },
                indent=1,
                default=str,
            )
        )
        return record

    def _run_task(self, name, task, component, executor, folder: Path) -> TaskRecord:
        started = time.monotonic()
        work = folder / name
        work.mkdir(parents=True)
        log_path = work / "log.txt"
        executor_input = {
            "inputs": {
                "parameterValues": self._input_parameters(name, task, component),
                "artifacts": self._input_artifacts(task),
            }
        }
        if not self._condition_holds(name, task, executor_input):
            self.log(f"[run-package] {name}: skipped (triggerPolicy.condition is false)")
            return TaskRecord(name, "skipped")
        task_root = self._task_root(name)
        if "importer" in executor:
            return self._import(name, executor["importer"], component, started)
        executor_input["outputs"] = self._outputs(name, component, task_root, work)
        output_file = Path(self.to_local(executor_input["outputs"]["outputFile"]))
        # launcher_v2.go prepareOutputFolders: the folders of the output files exist.
        folders = [output_file.parent]
        folders += [
            Path(p["outputFile"]).parent for p in executor_input["outputs"]["parameters"].values()
        ]
        for listed in executor_input["outputs"]["artifacts"].values():
            folders += [Path(self.to_local(a["uri"])).parent for a in listed["artifacts"]]
        for folder_path in folders:
            folder_path.mkdir(parents=True, exist_ok=True)
        container = executor["container"]
        self.log(f"[run-package] {name}: running")
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        code = 0
        if hook and self.backend == VERTEX:  # KFP never calls lifecycle hooks
            code = self._run_process(
                self._command(hook.get("command", []), hook.get("args", []), executor_input),
                log_path,
            )
            if code == 0 and output_file.exists():
                # "The CAIP Pipelines service will update the task's properties and
                # artifacts prior to running the executor" (TFX's driver.py); the step
                # itself reads the updated properties back from the same file.
                driven = json.loads(self.to_remote(output_file.read_text()))
                for key, listed in driven.get("artifacts", {}).items():
                    target = executor_input["outputs"]["artifacts"].get(key)
                    if target and listed.get("artifacts"):
                        metadata = target["artifacts"][0].setdefault("metadata", {})
                        metadata.update(listed["artifacts"][0].get("metadata", {}))
        if code == 0:
            (work / "executor_input.json").write_text(json.dumps(executor_input, indent=1))
            argv = self._command(
                container.get("command", []), container.get("args", []), executor_input
            )
            code = self._run_process(argv, log_path)
        seconds = time.monotonic() - started
        if self.backend == KUBEFLOW:  # the launcher tees the step's output into executor-logs
            logs = Path(
                self.to_local(
                    executor_input["outputs"]["artifacts"][EXECUTOR_LOGS]["artifacts"][0]["uri"]
                )
            )
            logs.parent.mkdir(parents=True, exist_ok=True)
            logs.write_bytes(log_path.read_bytes())
        if code != 0:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-25:]
            self.log(
                f"[run-package] {name}: FAILED (exit {code}) after {seconds:.1f}s; log {log_path}"
            )
            for line in tail:
                self.log(f"    {line}")
            return TaskRecord(name, "failed", seconds, str(log_path))
        outputs, parameters = self._collect_outputs(name, component, executor_input, output_file)
        self.log(f"[run-package] {name}: succeeded in {seconds:.1f}s")
        return TaskRecord(name, "succeeded", seconds, str(log_path), outputs, parameters)

    def _collect_outputs(self, name: str, component: dict, executor_input: dict, output_file: Path):
        """launcher_v2.go: merge the step's ExecutorOutput into the provisioned outputs
        (a non-empty uri replaces, metadata merges key by key), then record them."""
        written = {}
        if output_file.exists():  # a missing file means an empty ExecutorOutput
            written = json.loads(self.to_remote(output_file.read_text()))
        outputs = {}
        for key, listed in executor_input["outputs"]["artifacts"].items():
            if key == EXECUTOR_LOGS:
                continue
            provisioned = copy.deepcopy(listed["artifacts"][0])
            returned = written.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
            if returned.get("uri"):
                provisioned["uri"] = returned["uri"]
            metadata = {**provisioned.get("metadata", {}), **returned.get("metadata", {})}
            if self.backend == KUBEFLOW:
                metadata = mlmd_round_trip({"display_name": key, **metadata})
            provisioned["metadata"] = metadata
            provisioned["id"] = self.store.record(provisioned, f"{self.run_id}/{name}/{key}")
            outputs[key] = [provisioned]
        parameters = {}
        declared = component.get("outputDefinitions", {}).get("parameters", {})
        for key, definition in executor_input["outputs"]["parameters"].items():
            if key in written.get("parameterValues", {}):
                parameters[key] = written["parameterValues"][key]
                continue
            path = Path(definition["outputFile"])
            if not path.exists():
                raise PackageRunError(
                    f"task {name}: failed to read output parameter name={key!r} path={str(path)!r}"
                )
            kind = declared[key].get("parameterType", "STRING")
            parameters[key] = text_to_value(path.read_text(), kind, f"task {name}: {key}")
        return outputs, parameters

    def _import(self, name: str, importer: dict, component: dict, started: float) -> TaskRecord:
        uri = importer.get("artifactUri", {})
        uri = uri.get("constant") or self.parameters.get(uri.get("runtimeParameter", ""), "")
        key = next(iter(component.get("outputDefinitions", {}).get("artifacts", {})), "artifact")
        artifact = {
            "uri": uri,
            "type": importer.get("typeSchema", {}),
            "metadata": importer.get("metadata", {}),
        }
        artifact["id"] = self.store.record(artifact, f"{self.run_id}/{name}/{key}")
        self.log(f"[run-package] {name}: imported {uri}")
        return TaskRecord(name, "succeeded", time.monotonic() - started, "", {key: [artifact]})


def evaluate_condition(condition: str, executor_input: dict, task_name: str) -> bool:
    """KFP evaluates `triggerPolicy.condition` as CEL over the ExecutorInput
    (backend/src/v2/expression). Supported here: comparisons (==, !=, <, <=, >, >=) of
    `inputs.parameter_values['k']` with a literal, joined by && and ||."""
    values = executor_input["inputs"]["parameterValues"]
    term = re.compile(
        r"\s*inputs\.parameter_values\['([^']+)'\]\s*(==|!=|<=|>=|<|>)\s*"
        r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+(?:\.\d+)?|true|false)\s*"
    )

    def holds(text: str) -> bool:
        match = term.fullmatch(text)
        if not match:
            raise PackageRunError(
                f"task {task_name}: triggerPolicy.condition {condition!r}: run-package "
                "evaluates comparisons of inputs.parameter_values only"
            )
        key, op, literal = match.groups()
        right = (
            json.loads(literal.replace("'", '"')) if literal[0] in "'\"" else json.loads(literal)
        )
        left = values.get(key)
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]

    return any(all(holds(t) for t in part.split("&&")) for part in condition.split("||"))


def verdict(record: RunRecord) -> list[str]:
    """The gate's outcome from the recorded artifacts: blessed or not, and what was pushed."""
    by_name = {task.name: task for task in record.tasks}
    lines = []
    evaluator = by_name.get("Evaluator")
    if evaluator and evaluator.outputs.get("blessing"):
        blessed = bool(evaluator.outputs["blessing"][0]["metadata"].get("blessed"))
        lines.append(f"blessed: {blessed}")
    pusher = by_name.get("Pusher")
    if pusher and pusher.outputs.get("pushed_model"):
        metadata = pusher.outputs["pushed_model"][0]["metadata"]
        if metadata.get("pushed"):
            lines.append(f"pushed: {metadata.get('pushed_destination')}")
        else:
            lines.append("pushed: nothing")
    return lines
