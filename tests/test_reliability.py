"""Bad input, faults and reruns, created for real through `rocket run`: the message says
what and where, and nothing is lost or pushed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import sample_data

pytestmark = pytest.mark.slow
ROCKET = str(Path(sys.executable).with_name("rocket"))


def rocket(*args: str, cwd: Path, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    return subprocess.run([ROCKET, "run", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200, **popen)  # fmt: skip


def data_file(tmp_path: Path, rows: int, extra_lines: dict[int, str] | None = None) -> Path:
    lines = sample_data.generate_rows(rows, seed=11)
    for index, text in sorted((extra_lines or {}).items()):
        lines.insert(index, text)
    path = tmp_path / "clicks.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_row_stops_the_run_naming_file_line_and_column(tmp_path):
    data = data_file(tmp_path, 500, {41: "0,0,430548_1007,1,2,3"})
    result = rocket("--data", str(data), "--output", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 1
    assert f"error: bad input row at {data}:42: expected 20 columns, found 6" in result.stderr
    assert "[Trainer]" not in result.stdout
    assert not (tmp_path / "o" / "serving").exists()


@pytest.fixture(scope="module")
def small_run_with_bad_rows(tmp_path_factory):
    """One run for two promises: 65 rows (an eval split of about 13) with two bad rows
    among them, tolerated by --max-bad-rows 2. The bad rows are set aside and counted and
    the run goes on to the Evaluator, which refuses an AUC on so few rows (exit 3 with
    --require-push)."""
    work = tmp_path_factory.mktemp("small")
    bad = {10: "x,0,p", 20: "5" + sample_data.generate_rows(1, seed=2)[0][1:]}
    data = data_file(work, 65, bad)
    out = work / "o"
    result = rocket("--data", str(data), "--max-bad-rows", "2", "--train-steps", "5",
                    "--require-push", "--output", str(out), cwd=work)  # fmt: skip
    assert (out / "run_summary.json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "run_summary.json").read_text())
    return result, summary, out, bad


def test_tolerated_bad_rows_are_set_aside_and_counted(small_run_with_bad_rows):
    result, summary, out, bad = small_run_with_bad_rows
    assert "[Evaluator] done in" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert summary["bad_rows"] == 2
    assert summary["train_rows"] + summary["eval_rows"] == 65
    rows = [
        json.loads(line)
        for f in (out / "bad_rows").iterdir()
        for line in f.read_text().splitlines()
    ]
    assert sorted((r["line"], r["text"]) for r in rows) == [(11, bad[10]), (21, bad[20])]
    assert "bad rows set aside: 2" in result.stdout


def test_concurrent_run_is_refused_and_a_killed_run_resumes_from_cache(tmp_path):
    out = tmp_path / "o"
    # The seed's model_config (its group of 17 features) in both runs; the rerun changes
    # only the model, which Transform does not read.
    seed_config = Path(__file__).parent / "data" / "seed_model_config.config"
    args = ["--rows", "3000", "--output", str(out)]
    long_run = [*args, "--train-steps", "3000", "--config", str(seed_config)]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen([ROCKET, "run", *long_run], cwd=tmp_path, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)  # fmt: skip
    seen = []
    deadline = time.time() + 900

    def trainer_at_step_50(line: str) -> bool:  # "[Trainer] (a gradient candidate) step 50/"
        return line.startswith("[Trainer]") and " step 50/" in line

    for line in first.stdout:
        seen.append(line)
        if trainer_at_step_50(line) or time.time() > deadline:
            break
    assert any(trainer_at_step_50(line) for line in seen), "".join(seen[-40:])

    second = rocket(*long_run, cwd=tmp_path)
    assert second.returncode == 1
    assert f"another `rocket run` is using {out}" in second.stderr

    os.killpg(first.pid, signal.SIGKILL)  # killed in the middle of the Trainer
    first.wait(timeout=60)
    assert not (out / "serving").exists()

    # The rerun also changes the model (a smaller light net, feature distillation on):
    # Transform gets only what preprocessing reads, so it is reused as well.
    seed = seed_config.read_text()
    changed = seed.replace("hidden_units:[128, 64]", "hidden_units:[64, 32]")
    changed = changed.replace("feature_based_distillation:false", "feature_based_distillation:true")
    assert changed.count("64, 32") == 1 and "distillation:true" in changed
    (tmp_path / "changed.config").write_text(changed)
    rerun = rocket(*args, "--train-steps", "200", "--config", str(tmp_path / "changed.config"),
                   cwd=tmp_path)  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    summary = json.loads((out / "run_summary.json").read_text())
    for component in ("EasyRecExampleGen", "StatisticsGen", "SchemaGen", "Transform"):
        assert component in summary["reused_components"]
        assert f"[{component}] done in" in rerun.stdout and "(reused from cache)" in rerun.stdout
    assert "Trainer" not in summary["reused_components"]
    assert summary["pushed"] is True
    assert [p.name for p in (out / "serving").iterdir()] == [Path(summary["pushed_model_dir"]).name]


def test_a_disappeared_column_stops_the_pipeline_before_transform(tmp_path):
    """Drift against the configuration's schema: `brand` is NULL in every row."""
    rows = []
    for line in sample_data.generate_rows(1500, seed=4):
        cells = line.split(",")
        cells[7] = "NULL"
        rows.append(",".join(cells))
    data = tmp_path / "drifted.csv"
    data.write_text("\n".join(rows) + "\n")
    result = rocket("--data", str(data), "--output", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 1
    assert "the data breaks its schema (ExampleValidator)" in result.stderr
    assert "column brand" in result.stderr
    assert "[Transform] running" not in result.stdout
    assert not (tmp_path / "o" / "serving").exists()


def test_an_auc_on_a_handful_of_eval_rows_is_not_blessed(small_run_with_bad_rows):
    """Before: a 13-row eval split blessed and pushed a model (AUC 0.78, GAUC 1.0)."""
    result, summary, out, _ = small_run_with_bad_rows
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    assert summary["eval_rows"] < 30
    assert summary["blessed"] is False and not (out / "serving").exists()
    reasons = " | ".join(summary["not_blessed_reasons"])
    assert "eval_positives" in reasons and "is below the minimum 20" in reasons, reasons
