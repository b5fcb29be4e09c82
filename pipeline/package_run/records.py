"""What a run-package run leaves: a record per task and per run, the artifact ids
(MLMD's stand-in) and the gate's verdict read from the recorded artifacts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.component_ids import EVALUATOR, PUSHER


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
