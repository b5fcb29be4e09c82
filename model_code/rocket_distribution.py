"""Where this Trainer process stands in a TF_CONFIG cluster, and what follows from it: the
distribution strategy, how the workers split the data, and a barrier before returning.

Kubeflow's TFJob and Vertex AI custom training set TF_CONFIG. Several workers train with
MultiWorkerMirroredStrategy, each on its shard of the data, and only the chief writes the
exports; without a cluster, the single-machine default strategy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf


class ClusterError(ValueError):
    """TF_CONFIG describes a cluster this trainer cannot run on; the message says why."""


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster: how many workers train and whether it is the
    chief, the one worker that writes the exports."""

    num_workers: int = 1
    task_type: str | None = None
    task_index: int = 0
    has_chief: bool = False  # without a 'chief' task, worker 0 is the chief

    @property
    def is_chief(self) -> bool:
        if self.task_type is None or self.task_type == "chief":
            return True
        return self.task_type == "worker" and self.task_index == 0 and not self.has_chief

    @property
    def multi_worker(self) -> bool:
        return self.num_workers > 1

    def label(self) -> str:
        return "single machine" if self.task_type is None else f"{self.task_type} {self.task_index}"


TRAINING_TASK_TYPES = ("chief", "worker")


def worker_role(tf_config: str | None = None) -> WorkerRole:
    """The role that TF_CONFIG (or `tf_config`) gives this process. Only synchronous
    data-parallel training is supported: chief and worker tasks, no parameter servers."""
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text.strip():
        return WorkerRole()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ClusterError(f"TF_CONFIG is not valid JSON: {error}") from None
    cluster = parsed.get("cluster") or {}
    task = parsed.get("task") or {}
    if not cluster:
        return WorkerRole()
    unsupported = sorted(
        t for t, tasks in cluster.items() if tasks and t not in TRAINING_TASK_TYPES
    )
    if unsupported:
        raise ClusterError(
            f"TF_CONFIG cluster has task types {unsupported}: this trainer runs "
            "MultiWorkerMirroredStrategy, which takes only 'chief' and 'worker' tasks "
            "(no parameter servers, no side-car evaluator)"
        )
    task_type = task.get("type")
    if task_type not in TRAINING_TASK_TYPES:
        raise ClusterError(f"TF_CONFIG task type {task_type!r}: expected 'chief' or 'worker'")
    task_index = int(task.get("index", 0))
    if not 0 <= task_index < len(cluster.get(task_type) or []):
        raise ClusterError(
            f"TF_CONFIG task {task_type} {task_index}: the cluster has "
            f"{len(cluster.get(task_type) or [])} {task_type} task(s)"
        )
    num_workers = sum(len(cluster.get(t) or []) for t in TRAINING_TASK_TYPES)
    return WorkerRole(num_workers, task_type, task_index, has_chief=bool(cluster.get("chief")))


def make_strategy(role: WorkerRole) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy for a cluster of several workers (it reads TF_CONFIG
    itself), the default strategy otherwise. Create it before any other TensorFlow work:
    collective ops are configured when the strategy is built."""
    if role.multi_worker:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def shard_policy(
    file_pattern: list[str] | str, num_workers: int
) -> tf.data.experimental.AutoShardPolicy:
    """How the workers split a dataset: by file when every worker gets at least one file
    (each reads only its own), else by element (each reads everything and keeps its
    share). TF's AUTO does not fall back by itself: with fewer files than workers it
    fails, and TFX's Transform often writes a split as a single file."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = sum(len(tf.io.gfile.glob(pattern)) for pattern in patterns)
    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if files >= num_workers else policy.DATA


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait for every worker, the chief's exports included. TFX's Trainer executor checks
    on every worker, right after run_fn, that serving_model_dir exists: a worker must not
    return before the chief has written it."""
    one = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, one, axis=None)
