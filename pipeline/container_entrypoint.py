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

Where the types are present (Vertex AI, or a fixed backend) nothing is changed and the
arguments reach TFX byte for byte.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)

INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
BACKEND_TYPE_PREFIX = "system."  # KFP's own artifact types (schemaTitle system.Artifact, ...)


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


def repair_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """The TFX entrypoint's arguments with the ExecutorInput repaired; unchanged (the same
    strings) when there was nothing to repair."""
    found = _flag_value(argv, INVOCATION_FLAG)
    if found is None:
        return argv, []
    index, raw = found
    executor_input = json.loads(raw)
    spec = _flag_value(argv, INPUTS_SPEC_FLAG)
    inputs_spec = json.loads(spec[1]) if spec and spec[1] else None
    changes = repair_executor_input(executor_input, inputs_spec)
    if not changes:
        return argv, []
    repaired = json.dumps(executor_input)
    argv = list(argv)
    argv[index] = repaired if argv[index] == raw else f"{INVOCATION_FLAG}={repaired}"
    return argv, changes


def main(argv: list[str] | None = None) -> None:

    argv = list(sys.argv[1:] if argv is None else argv)
    argv, changes = repair_argv(argv)
    for change in changes:
        print(f"[rocket entrypoint] {change}", file=sys.stderr, flush=True)
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as tfx_entry

    sys.argv = [tfx_entry.__file__, *argv]
    app.run(tfx_entry.main, flags_parser=tfx_entry._parse_flags)


if __name__ == "__main__":
    main()
