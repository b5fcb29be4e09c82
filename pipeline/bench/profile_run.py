"""Where a default `rocket run`'s seconds go: the run under py-spy (a sampling profiler:
it reads the process's Python stacks from outside, 50 times a second, without slowing
TensorFlow's own threads), then each component's samples sorted into named causes.

    .venv/bin/python -m pipeline.bench.profile_run --output DIR [-- RUN OPTIONS]

writes DIR/profile.speedscope.json (open it at https://www.speedscope.app), DIR/run/ (the
run itself) and DIR/profile.json and DIR/profile.md: per component, its share of the
samples per cause. py-spy only sees Python stacks: time inside a TensorFlow op is
counted under the Python call that waits for it (e.g. the training steps), and the run
is slower under the profiler (about 1.5 times here), so read shares, not seconds."""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Each component's samples: those with a frame of this file (the component's executor).
COMPONENTS = {
    "EasyRecExampleGen": "easyrec_example_gen",
    "StatisticsGen": "statistics_gen/executor",
    "Transform": "transform/executor.py",
    "Trainer": "trainer/executor.py",
    "Evaluator": "rocket_evaluator",
}

# The causes, first match wins: (label, function name prefix, file part or "").
CAUSES = (
    ("Beam's state cache weighing side inputs (objsize)", "get_deep_size", "statecache"),
    ("export of the two SavedModels", "export_pair", "rocket_export"),
    ("TF tracing (tf.function, dataset maps)", "trace_function", "tracing_compilation"),
    ("TFT tracing of preprocessing_fn", "_trace_preprocessing_fn", "tensorflow_transform"),
    ("evaluation (validation checks, the eval split)", "evaluate", "tf_keras"),
    ("training steps", "fit", "tf_keras"),
    ("Beam: setting up each stage (DoFn signature checks)", "__init__", "bundle_processor"),
    ("Beam: building and translating the pipeline", "to_runner_api", "apache_beam"),
    ("row parsing (RowParser)", "parse", "row_parser"),
    ("TFDV statistics", "", "tensorflow_data_validation/statistics"),
    ("TFMA metrics", "", "tensorflow_model_analysis"),
)
OTHER = "other (reading and writing, Python, TF ops outside these)"


def cause_of(stack: list[tuple[str, str]]) -> str:
    """The first cause one of whose frames (function name, file) is on the stack."""
    for label, name, file_part in CAUSES:
        if any(n.startswith(name) and file_part in f for n, f in stack):
            return label
    return OTHER


def summarize(speedscope: dict) -> dict:
    """{component: {"samples_seconds": s, "causes": {label: share}}} of a py-spy
    speedscope profile (all threads)."""
    frames = speedscope["shared"]["frames"]
    totals: dict[str, float] = collections.Counter()
    causes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for profile in speedscope["profiles"]:
        for sample, weight in zip(profile["samples"], profile["weights"]):
            stack = [(frames[i]["name"], frames[i].get("file", "")) for i in sample]
            for component, file_part in COMPONENTS.items():
                if any(file_part in f for _, f in stack):
                    totals[component] += weight
                    causes[component][cause_of(stack)] += weight
                    break
    return {
        component: {
            "samples_seconds": round(totals[component], 1),
            "causes": {
                label: round(seconds / totals[component], 3)
                for label, seconds in causes[component].most_common()
            },
        }
        for component in COMPONENTS
        if totals[component]
    }


def markdown(summary: dict, run_seconds: dict, command: str) -> str:
    lines = [f"`{command}`", "", "| component | run s | where its samples went |", "|---|---|---|"]
    for component, block in summary.items():
        shares = "; ".join(f"{share:.0%} {label}" for label, share in block["causes"].items())
        lines.append(f"| {component} | {run_seconds.get(component, '–')} | {shares} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, type=Path, help="output folder")
    parser.add_argument("--rate", type=int, default=50, help="samples per second (50)")
    parser.add_argument("run_options", nargs="*", help="options of `rocket run` after --")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(py_spy):
        parser.error("py-spy is not installed: `make setup` installs it (the dev extra)")
    args.output.mkdir(parents=True, exist_ok=True)
    profile = args.output / "profile.speedscope.json"
    run_dir = args.output / "run"
    run = [sys.executable, "-m", "pipeline.cli", "run", "--output", str(run_dir), "--no-cache"]
    run += args.run_options
    command = [py_spy, "record", "--rate", str(args.rate), "--format", "speedscope"]
    command += ["--output", str(profile), "--", *run]
    print(f"[profile] {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)
    summary = summarize(json.loads(profile.read_text()))
    run_summary = json.loads((run_dir / "run_summary.json").read_text())
    seconds = run_summary.get("component_seconds", {})
    (args.output / "profile.json").write_text(
        json.dumps(
            {
                "command": " ".join(run[2:]),
                "components": summary,
                "component_seconds_under_profiler": seconds,
            },
            indent=2,
        )
        + "\n"  # fmt: skip
    )
    text = markdown(summary, seconds, "rocket " + " ".join(run[3:]))
    (args.output / "profile.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
