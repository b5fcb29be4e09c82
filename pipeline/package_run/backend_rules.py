"""The rules of each backend that run-package follows: what it refuses before anything
runs, the order of the steps, and how the driver and launcher check and convert values
(file names are those of kubeflow/pipelines backend/src/v2). Pure functions."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.backends import KUBEFLOW

# kubeflow/pipelines backend/src/v2/objectstore/config.go, ParseBucketPathToConfig
_BUCKET_PATH = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")
_KFP_ROOT_SCHEMES = ("gs://", "s3://", "minio://")


class PackageRunError(RuntimeError):
    """The package cannot run under the backend's rules, or a step failed."""


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
    """objectstore/config.go: gs://, s3:// and minio:// roots only."""
    if not _BUCKET_PATH.match(root):
        raise PackageRunError(
            f"parse bucket config failed: unrecognized pipeline root format: {root!r}"
        )
    if not root.startswith(_KFP_ROOT_SCHEMES):
        raise PackageRunError(f"parse bucket config failed: unsupported Cloud bucket: {root!r}")


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
