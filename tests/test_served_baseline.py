"""The gate's baseline: which served version is found."""

from __future__ import annotations

from pathlib import Path

from components.served_baseline import latest_served_version


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
