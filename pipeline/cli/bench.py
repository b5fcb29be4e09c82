"""`rocket bench`: every benchmark side by side, or one part alone (--only)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from pipeline.cli.common import EXIT_OK, count
from pipeline.settings import REAL_SAMPLE


def add_parser(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="benchmark quality, light-net sweep, serving, training and pipeline time",
        description="Measures everything side by side in one run and writes "
        "DIR/benchmark.json, DIR/benchmark.md and PNG plots.",
    )
    bench.add_argument(
        "--quick", action="store_true", help="smaller run (about 10 minutes on 2 cores)"
    )
    bench.add_argument(
        "--data", help="EasyRec CSV file or folder for the quality part (default: generator)"
    )
    bench.add_argument(
        "--only",
        choices=("quality", "quality-at-size", "scale", "size"),
        help="run one part alone: quality = every variant over the seeds on the generator "
        "(or --data) and the real sample (--quick: smaller); scale = Transform (1 and 2 "
        "Beam workers) and Trainer with "
        "1,000,000 user ids and 500,000 ad ids (about 15 minutes); size = the default "
        "`rocket run` and one at 300,000 rows and 1,200 steps (about 15 minutes); "
        "quality-at-size = light alone, rocket, booster alone and linear on --rows generated "
        "rows (default 1,000,000), 3 seeds, each trained by the Trainer's loop on the "
        "transformed train files to its best validation check (about 90 minutes on 2 cores)",
    )
    bench.add_argument(
        "--rows",
        type=count(1000),
        help="generated rows of --only quality-at-size (default 1,000,000)",
    )
    bench.add_argument(
        "--seeds",
        type=count(1),
        help="seeds of --only quality-at-size (default 3); the sweep takes the first",
    )
    bench.add_argument("--output", required=True, help="output folder")
    bench.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from pipeline.bench import runner
    from pipeline.bench.settings import BenchError, BenchSettings

    settings = BenchSettings.quick() if args.quick else BenchSettings.full()
    if (args.rows is not None or args.seeds is not None) and args.only != "quality-at-size":
        raise BenchError("--rows and --seeds set --only quality-at-size only")
    if args.only == "quality-at-size":
        from pipeline.bench import quality_at_size

        if args.quick or args.data:
            raise BenchError(
                "--only quality-at-size runs on generated rows (--rows): it takes neither "
                "--quick nor --data"
            )
        at_size = quality_at_size.AtSizeSettings()
        if args.rows is not None:
            at_size = dataclasses.replace(at_size, rows=args.rows)
        if args.seeds is not None:
            at_size = dataclasses.replace(at_size, seeds=args.seeds)
        command = "rocket bench --only quality-at-size"
        command += f" --rows {args.rows}" if args.rows else ""
        command += f" --seeds {args.seeds}" if args.seeds else ""
        command += f" --output {args.output}"
        runner.run_quality_at_size_only(Path(args.output).resolve(), at_size, settings, command)
        return EXIT_OK
    if args.only == "quality":
        command = "rocket bench --only quality" + (" --quick" if args.quick else "")
        command += (f" --data {args.data}" if args.data else "") + f" --output {args.output}"
        runner.run_quality_only(
            Path(args.output).resolve(), settings, args.data, REAL_SAMPLE, command=command
        )
        return EXIT_OK
    if args.only:
        if args.quick or args.data:
            raise BenchError(
                f"--only {args.only} runs its full-size part on data it generates: it takes "
                "neither --quick nor --data"
            )
        run_alone = {"scale": runner.run_scale_only, "size": runner.run_size_only}
        run_alone[args.only](
            Path(args.output).resolve(),
            settings,
            command=f"rocket bench --only {args.only} --output {args.output}",
        )
        return EXIT_OK
    command = "rocket bench" + (" --quick" if args.quick else "")
    command += (f" --data {args.data}" if args.data else "") + f" --output {args.output}"
    runner.run_bench(
        Path(args.output).resolve(),
        settings,
        data=args.data,
        real_sample=REAL_SAMPLE,
        command=command,
    )
    return EXIT_OK
