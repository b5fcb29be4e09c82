"""Pusher executor that publishes a model version all at once (staging dir + rename)."""

from components.atomic_pusher.executor import Executor, push_atomically

__all__ = ["Executor", "push_atomically"]
