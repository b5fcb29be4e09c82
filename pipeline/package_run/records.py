"""What a run-package run leaves: a record per task and per run, the artifact ids
(MLMD's stand-in), the executions a later run may reuse (the backend's cache) and the
gate's verdict read from the recorded artifacts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.component_ids import EVALUATOR, PUSHER


@dataclass
class TaskRecord:
    name: str
    state: str  # succeeded | cached | failed | skipped | not run
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


class ExecutionCache:
    """Succeeded executions by cache key under ROOT/cache.json: what the backend's cache
    finds (KFP: cacheutils' fingerprint looked up per pipeline; Vertex AI: the same
    interface, the documented cache key), so a later run of the same pipeline reuses a
    task whose key it has seen, outputs and all."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}

    @staticmethod
    def key(parts: dict) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def find(self, key: str) -> dict | None:
        return self.data.get(key)

    def record(self, key: str, run_id: str, task: TaskRecord) -> None:
        self.data[key] = {
            "run_id": run_id,
            "outputs": task.outputs,
            "output_parameters": task.output_parameters,
        }
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))


def verdict(record: RunRecord) -> list[str]:
    """The gate's outcome from the recorded artifacts: blessed or not, and what was pushed."""
    by_name = {task.name: task for task in record.tasks}
    lines = []
    evaluator = by_name.get(EVALUATOR)
    if evaluator and evaluator.outputs.get("blessing"):
        blessed = bool(evaluator.outputs["blessing"][0]["metadata"].get("blessed"))
        lines.append(f"blessed: {blessed}")
    pusher = by_name.get(PUSHER)
    if pusher and pusher.outputs.get("pushed_model"):
        metadata = pusher.outputs["pushed_model"][0]["metadata"]
        if metadata.get("pushed"):
            lines.append(f"pushed: {metadata.get('pushed_destination')}")
        else:
            lines.append("pushed: nothing")
    return lines
