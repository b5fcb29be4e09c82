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
        "--data",
        help="EasyRec CSV file or folder for the quality part or --only quality-at-size "
        "(default: generated rows)",
    )
    bench.add_argument(
        "--only",
        choices=("quality", "quality-at-size", "serving", "scale", "size"),
        help="run one part alone: quality = every variant over the seeds on the generator "
        "(or --data) and the real sample (--quick: smaller); serving = light, booster and the "
        "served light model timed beside the parse floor and against EasyRec (a few minutes; "
        "--quick: fewer calls); scale = Transform (1 and 2 "
        "Beam workers) and Trainer with "
        "1,000,000 user ids and 500,000 ad ids (about 15 minutes); size = the default "
        "`rocket run` and one at 300,000 rows and 1,200 steps (about 15 minutes); "
        "quality-at-size = light alone, rocket, booster alone, linear and scikit-learn's "
        "logistic regression and MLP on one data set (--rows rows of --generator, default "
        "1,000,000, or --data), 3 seeds, each net trained by the Trainer's loop with the "
        "product's defaults on the transformed train files to its best validation check "
        "(about 90 minutes on 2 cores at 1,000,000 rows)",
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
    bench.add_argument(
        "--generator",
        choices=("sample", "deep"),
        help="rows of --only quality-at-size from pipeline.sample_data (sample, the default) "
        "or bench.deep_data (small id spaces, a deep random click function)",
    )
    bench.add_argument(
        "--split-by-user",
        action="store_true",
        help="--only quality-at-size: put whole users in the eval split (for logs grouped "
        "by user, such as the real Taobao sample)",
    )
    bench.add_argument(
        "--folds",
        type=count(2),
        help="--only quality-at-size: K-fold cross-validation instead of one 20%% eval "
        "split (every row scored once by models trained on the other folds; for small "
        "logs, such as the real sample)",
    )
    bench.add_argument(
        "--sweep-seeds",
        type=count(0),
        help="--only quality-at-size: seeds of the light-net sweep (default 1; 0: no sweep)",
    )
    bench.add_argument(
        "--max-epochs",
        type=float,
        help="--only quality-at-size: train at most this many epochs, 4 checks an epoch, "
        "instead of the product's train_steps and half-epoch checks (default)",
    )
    bench.add_argument(
        "--config",
        help="--only quality-at-size: an EasyRec configuration for the nets (default: the "
        "product's)",
    )
    bench.add_argument(
        "--no-references",
        action="store_true",
        help="--only quality-at-size: leave out scikit-learn's reference models",
    )
    bench.add_argument(
        "--compare-with",
        metavar="GIT_REF",
        help="--only size: time the default run of this commit (a git worktree of it, this "
        "environment) and of the checkout, interleaved, and report new / old",
    )
    bench.add_argument(
        "--compare-rounds",
        type=int,
        default=1,
        metavar="N",
        help="--only size --compare-with: default runs of each code (default 1)",
    )
    bench.add_argument("--output", required=True, help="output folder")
    bench.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from pipeline.bench import runner
    from pipeline.bench.settings import BenchError, BenchSettings

    settings = BenchSettings.quick() if args.quick else BenchSettings.full()
    at_size_options = {
        "rows": args.rows,
        "seeds": args.seeds,
        "generator": args.generator,
        "sweep_seeds": args.sweep_seeds,
        "folds": args.folds,
        "max_epochs": args.max_epochs,
        "config": args.config,
    }
    at_size_flags = {"by_user": args.split_by_user, "references": not args.no_references}
    at_size_set = ["--" + k.replace("_", "-") for k, v in at_size_options.items() if v is not None]
    at_size_set += ["--split-by-user"] if args.split_by_user else []
    at_size_set += ["--no-references"] if args.no_references else []
    if at_size_set and args.only != "quality-at-size":
        raise BenchError(f"{', '.join(at_size_set)}: options of --only quality-at-size only")
    if args.only != "size" and (args.compare_with is not None or args.compare_rounds != 1):
        raise BenchError("--compare-with, --compare-rounds: options of --only size only")
    if args.only == "quality-at-size":
        from pipeline.bench import quality_at_size

        if args.quick:
            raise BenchError("--only quality-at-size takes no --quick (set --rows)")
        if args.data and (args.rows is not None or args.generator is not None):
            raise BenchError("--data reads its own rows: it takes neither --rows nor --generator")
        if args.max_epochs is not None and args.max_epochs <= 0:
            raise BenchError(f"--max-epochs {args.max_epochs}: must be positive")
        changes = {k: v for k, v in at_size_options.items() if v is not None}
        at_size = dataclasses.replace(
            quality_at_size.AtSizeSettings(), data=args.data, **changes, **at_size_flags
        )
        command = "rocket bench --only quality-at-size"
        command += f" --data {args.data}" if args.data else ""
        for key, value in changes.items():
            command += f" --{key.replace('_', '-')} {value:g}" if isinstance(value, float) else (
                f" --{key.replace('_', '-')} {value}")  # fmt: skip
        command += " --split-by-user" if args.split_by_user else ""
        command += " --no-references" if args.no_references else ""
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
    if args.only == "serving":
        if args.data:
            raise BenchError("--only serving times rows it generates: it takes no --data")
        command = "rocket bench --only serving" + (" --quick" if args.quick else "")
        runner.run_serving_only(
            Path(args.output).resolve(), settings, REAL_SAMPLE,
            command=f"{command} --output {args.output}",
        )  # fmt: skip
        return EXIT_OK
    if args.only:
        if args.quick or args.data:
            raise BenchError(
                f"--only {args.only} runs its full-size part on data it generates: it takes "
                "neither --quick nor --data"
            )
        if args.only == "size":
            compare = ""
            if args.compare_with is not None:
                compare = f" --compare-with {args.compare_with}"
                compare += f" --compare-rounds {args.compare_rounds}"
            runner.run_size_only(
                Path(args.output).resolve(),
                settings,
                command=f"rocket bench --only size{compare} --output {args.output}",
                compare_with=args.compare_with,
                compare_rounds=args.compare_rounds,
            )
            return EXIT_OK
        runner.run_scale_only(
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
