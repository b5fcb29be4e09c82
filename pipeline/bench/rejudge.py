"""Re-applies today's quality targets to a stored `rocket bench --only quality-at-size`
result: `python -m pipeline.bench.rejudge DIR [DIR ...]` rewrites DIR/benchmark.json's
`targets` and DIR/benchmark.md from the scores the run stored, which stay as measured.

Why: a target is a judgement of the measured numbers, and the judgement can change (issue
24 asked for gap_closed beyond its per-seed spread, beside the paper's 0.6) while a
200,000-row bench takes an hour to measure again. The header keeps the run's own date,
machine and command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.bench import quality_at_size, report
from pipeline.bench.settings import JSON_FILE


def rejudge(folder: Path) -> list[dict]:
    """The folder's new targets, written back into its benchmark.json and benchmark.md."""
    result = json.loads((folder / JSON_FILE).read_text())
    part = result[quality_at_size.KEY]
    part["targets"] = quality_at_size.targets(part)
    lines = quality_at_size.lines(part)
    report.write_alone_files(folder, "quality-at-size", result, lines, part["measured"])
    return part["targets"]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m pipeline.bench.rejudge DIR [DIR ...]", file=sys.stderr)
        return 2
    for folder in map(Path, argv):
        for t in rejudge(folder):
            print(f"{folder}: {t['target']}: {t['value']} ({t['met']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
