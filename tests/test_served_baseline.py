"""The gate's baseline: which served version is found, and how a first run (no served
model) reaches TFX's Evaluator."""

from __future__ import annotations

from pathlib import Path

from components.served_baseline import latest_served_version
from components.served_baseline.evaluator import BASELINE_KEY, Executor, holds_saved_model


def version(serving: Path, name: str, complete: bool = True) -> Path:
    folder = serving / name
    folder.mkdir(parents=True)
    if complete:
        (folder / "saved_model.pb").write_bytes(b"model")
    return folder


def test_newest_complete_numeric_version_is_the_baseline(tmp_path):
    serving = tmp_path / "serving"
    assert latest_served_version(str(serving)) is None  # no folder yet: first run
    serving.mkdir()
    assert latest_served_version(str(serving)) is None
    version(serving, "900")
    version(serving, "1000")
    version(serving, "1200", complete=False)  # no saved_model.pb: not servable
    version(serving, ".staging-1300-77")  # a push in progress
    version(serving, "latest")  # TF Serving loads numeric names only
    assert latest_served_version(str(serving)) == "1000"  # numerically, not as text


def test_an_empty_baseline_is_dropped_so_tfx_judges_by_absolute_thresholds(tmp_path, monkeypatch):
    from tfx.types import standard_artifacts

    def model(uri: Path):
        artifact = standard_artifacts.Model()
        artifact.uri = str(uri)
        return artifact

    empty = tmp_path / "empty"
    empty.mkdir()
    served = tmp_path / "served"
    version(served, "Format-Serving")
    assert not holds_saved_model(str(empty)) and holds_saved_model(str(served))

    from tfx.components.evaluator import executor as tfx_evaluator

    seen = {}

    def tfx_do(self, input_dict, output_dict, exec_properties):  # what TFX's Evaluator gets
        seen["inputs"] = set(input_dict)

    monkeypatch.setattr(tfx_evaluator.Executor, "Do", tfx_do)
    Executor().Do({"model": [model(served)], BASELINE_KEY: [model(empty)]}, {}, {})
    assert seen["inputs"] == {"model"}
    Executor().Do({"model": [model(served)], BASELINE_KEY: [model(served)]}, {}, {})
    assert seen["inputs"] == {"model", BASELINE_KEY}
