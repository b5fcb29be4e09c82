"""PackageRunner: runs a compiled package's steps as local processes in dependency
order, with the ExecutorInput its backend would build (the rules: pipeline/package_run)."""

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
from pathlib import Path

from components import object_store
from pipeline.backends import BACKENDS, KUBEFLOW, VERTEX
from pipeline.container_entrypoint import MOUNT_ROOT_ENV
from pipeline.package_run.backend_rules import (
    PackageRunError,
    check_executors,
    check_kfp_pipeline_root,
    check_parameter_types,
    evaluate_condition,
    load_for_backend,
    mlmd_round_trip,
    text_to_value,
    topological_order,
)
from pipeline.package_run.launcher import (
    ObjectStoreLauncher,
    read_executor_output,
    step_environment,
)
from pipeline.package_run.records import ExecutionCache, MetadataStore, RunRecord, TaskRecord

GCS_STAND_IN = "gcs"  # ROOT/gcs/<bucket>/<path> holds what gs://<bucket>/<path> would
# The image's ENV (infra/Dockerfile), which a local process does not inherit.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
EXECUTOR_LOGS = "executor-logs"  # KFP >= 2.5, driver/driver.go
_VERTEX_PROJECT_NUMBER = "000000000000"  # stands in for the project number in Vertex URIs
_PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](\.\w+)?\}\}"
)


class PackageRunner:
    """Runs one package once; the rules are in the docstring of pipeline/package_run."""

    def __init__(
        self,
        package: Path,
        backend: str,
        root: Path,
        params: dict[str, str] | None = None,
        pipeline_root: str | None = None,
        log: Callable[[str], None] = print,
        object_store_endpoint: str | None = None,
        secrets: dict[str, dict[str, str]] | None = None,
        cache: bool = True,
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
        from pipeline.submit import load_platform_spec, resolve_params

        self.platform = load_platform_spec(package) if backend == KUBEFLOW else {}
        self.endpoint, self.secrets = object_store_endpoint, secrets or {}
        # s3:// / minio:// roots: the launcher's download/upload around each step.
        self.launcher = (
            ObjectStoreLauncher(self.pipeline_root, self.endpoint, self.secrets)
            if object_store.is_object_store_uri(self.pipeline_root)
            else None
        )
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
        # A run with caching off (KFP's run option, Vertex's enable_caching=False) neither
        # reuses nor records executions.
        self.cache = ExecutionCache(self.root / "cache.json") if cache else None
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

    def local_path(self, uri: str, pod: Path) -> Path:
        """Where a step's file at `uri` is here: the gs:// stand-in, or for s3:// and
        minio:// the launcher's path in the task's pod."""
        if self.launcher and object_store.is_object_store_uri(uri):
            return self.launcher.local_path(uri, pod)
        return Path(self.to_local(uri))

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

    def _outputs(
        self, task_name: str, component: dict, task_root: str, work: Path, pod: Path
    ) -> dict:
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
        if self.launcher:  # driver.go provisionOutputs: LocalPathForURI of the task root
            output_file = str(self.launcher.local_path(output_file, pod))
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

    def _run_process(self, argv: list[str], log_path: Path, env: dict[str, str]) -> int:
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
            if result.state not in ("succeeded", "cached"):
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
        pod = work / "pod"  # the task's pod file system (launcher mounts under it)
        executor_input["outputs"] = self._outputs(name, component, task_root, work, pod)
        output_file = self.local_path(executor_input["outputs"]["outputFile"], pod)
        # launcher_v2.go prepareOutputFolders: the folders of the output files exist.
        folders = [output_file.parent]
        folders += [
            Path(p["outputFile"]).parent for p in executor_input["outputs"]["parameters"].values()
        ]
        for listed in executor_input["outputs"]["artifacts"].values():
            folders += [self.local_path(a["uri"], pod).parent for a in listed["artifacts"]]
        for folder_path in folders:
            folder_path.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **IMAGE_ENV}
        if self.backend == KUBEFLOW:
            env = step_environment(
                name,
                executor["container"],
                self.platform.get("deploymentSpec", {})
                .get("executors", {})
                .get(component["executorLabel"], {}),
                self.secrets,
                env,
                self.endpoint,
            )
        if self.launcher:
            env[MOUNT_ROOT_ENV] = str(pod)
        container = executor["container"]
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        code = 0
        if hook and self.backend == VERTEX:  # KFP never calls lifecycle hooks
            code = self._run_process(
                self._command(hook.get("command", []), hook.get("args", []), executor_input),
                log_path,
                env,
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
        cache_key = (
            self._cache_key(task, component, container, executor_input) if code == 0 else None
        )
        cached = self.cache.find(cache_key) if cache_key else None
        if cached:
            return self._reuse(name, cached, log_path, started)
        if code == 0:
            if self.launcher:  # the driver found no cached execution: the pod starts
                self.launcher.download_inputs(executor_input, pod)
            self.log(f"[run-package] {name}: running")
            (work / "executor_input.json").write_text(json.dumps(executor_input, indent=1))
            argv = self._command(
                container.get("command", []), container.get("args", []), executor_input
            )
            code = self._run_process(argv, log_path, env)
        seconds = time.monotonic() - started
        if self.backend == KUBEFLOW:  # the launcher tees the step's output into executor-logs
            logs_uri = executor_input["outputs"]["artifacts"][EXECUTOR_LOGS]["artifacts"][0]["uri"]
            logs = self.local_path(logs_uri, pod)
            logs.parent.mkdir(parents=True, exist_ok=True)
            logs.write_bytes(log_path.read_bytes())
            if self.launcher:
                self.launcher.upload(name, EXECUTOR_LOGS, logs_uri, pod)
        if code != 0:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-25:]
            self.log(
                f"[run-package] {name}: FAILED (exit {code}) after {seconds:.1f}s; log {log_path}"
            )
            for line in tail:
                self.log(f"    {line}")
            return TaskRecord(name, "failed", seconds, str(log_path))
        outputs, parameters = self._collect_outputs(
            name, component, executor_input, output_file, pod
        )
        self.log(f"[run-package] {name}: succeeded in {seconds:.1f}s")
        result = TaskRecord(name, "succeeded", seconds, str(log_path), outputs, parameters)
        if cache_key:
            self.cache.record(cache_key, self.run_id, result)
        return result

    # The cache ----------------------------------------------------------------------------
    def _cache_key(self, task: dict, component: dict, container: dict, executor_input: dict):
        """The task's cache key, or None when it is not cached: KFP's driver
        (driver/cache.go getFingerPrint, cacheutils GenerateCacheKey) keys on the input
        parameter values, the input artifacts' names (their MLMD ids), the output
        artifacts without their URIs, the output parameters' types, the command and
        arguments as compiled and the image, looked up within the pipeline. Vertex AI
        documents the same interface and computes it after the lifecycle hook, so the
        file-based ExampleGen's fingerprint of its input files is part of it."""
        if self.cache is None or not task.get("cachingOptions", {}).get("enableCache"):
            return None
        inputs, outputs = executor_input["inputs"], executor_input["outputs"]
        return ExecutionCache.key(
            {
                "pipeline": self.pipeline_name,
                "parameters": inputs["parameterValues"],
                "artifacts": {
                    key: [a.get("name", "") for a in listed["artifacts"]]
                    for key, listed in inputs["artifacts"].items()
                },
                "outputs": {
                    key: [{**a, "uri": ""} for a in listed["artifacts"]]
                    for key, listed in outputs["artifacts"].items()
                },
                "output_parameters": {
                    key: p.get("parameterType", "")
                    for key, p in component.get("outputDefinitions", {})
                    .get("parameters", {})
                    .items()
                },
                "command": [*container.get("command", []), *container.get("args", [])],
                "image": container.get("image", ""),
            }
        )

    def _reuse(self, name: str, cached: dict, log_path: Path, started: float) -> TaskRecord:
        """driver/cache.go reuseCachedOutputs: the cached execution's output artifacts
        (the same ids) and parameters; no pod runs."""
        note = f"cached: the outputs of this task in run {cached['run_id']}"
        log_path.write_text(note + "\n")
        self.log(f"[run-package] {name}: {note}")
        return TaskRecord(
            name,
            "cached",
            time.monotonic() - started,
            str(log_path),
            cached["outputs"],
            cached["output_parameters"],
        )

    def _collect_outputs(
        self, name: str, component: dict, executor_input: dict, output_file: Path, pod: Path
    ):
        """launcher_v2.go: merge the step's ExecutorOutput into the provisioned outputs
        (a non-empty uri replaces, metadata merges key by key), upload them from the pod
        (s3:// / minio:// roots), then record them."""
        written = read_executor_output(output_file)  # a missing file: an empty one
        if not self.launcher:
            written = json.loads(self.to_remote(json.dumps(written)))
        outputs = {}
        for key, listed in executor_input["outputs"]["artifacts"].items():
            if key == EXECUTOR_LOGS:
                continue
            provisioned = copy.deepcopy(listed["artifacts"][0])
            returned = written.get("artifacts", {}).get(key, {}).get("artifacts", [{}])[0]
            if returned.get("uri"):
                provisioned["uri"] = returned["uri"]
            if self.launcher:
                self.launcher.upload(name, key, provisioned["uri"], pod)
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
