"""`rocket run`: the whole pipeline on this machine (Beam DirectRunner)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.cli.common import (
    EXIT_NOT_BLESSED,
    EXIT_OK,
    add_pipeline_options,
    count,
    load_config,
    pipeline_option_values,
)


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run the whole pipeline locally (Beam DirectRunner)")
    run.add_argument("--data", help="EasyRec CSV file or folder (default: generated sample)")
    run.add_argument(
        "--rows",
        type=count(1),
        default=None,
        help="rows of the generated sample when --data is not given (50000)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the generated sample")
    run.add_argument("--config", help="EasyRec text-format configuration (default: the seed's)")
    run.add_argument("--output", default="output", help="output folder (default: ./output)")
    add_pipeline_options(run)
    run.add_argument(
        "--runner",
        choices=("beam", "local"),
        default="beam",
        help="TFX orchestrator: BeamDagRunner (default) or LocalDagRunner",
    )
    run.add_argument(
        "--require-push",
        action="store_true",
        help="exit with code 3 when the model is not blessed and pushed",
    )
    run.add_argument("--no-cache", action="store_true", help="rerun every component")
    run.add_argument("--verbose", action="store_true", help="show TFX/Beam logs")
    run.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    started = time.time()
    output = Path(args.output).resolve()
    from pipeline import data_source, local_runner, run_summary, tfx_pipeline
    from pipeline.settings import PipelineSettings

    config = load_config(args)
    with local_runner.RunLock(output):
        source = data_source.resolve(
            args.data, output, args.rows or data_source.DEFAULT_ROWS, args.seed, allow_splits=True
        )
        print(f"[data] {len(source.files)} file(s) under {source.root} matching {source.pattern}")
        if source.splits:
            print(
                "[data] predefined splits "
                + ", ".join(f"{name}: {pattern}" for name, pattern in source.splits)
                + " (--eval-fraction is not used)"
            )
        settings = PipelineSettings(
            pipeline_root=str(output / "pipeline_root"),
            data_root=source.root,
            data_pattern=source.pattern,
            serving_dir=str(output / "serving"),
            config=config,
            data_splits=source.splits,
            metadata_path=str(output / "metadata.sqlite"),
            enable_cache=not args.no_cache,
            beam_pipeline_args=("--direct_running_mode=in_memory", "--direct_num_workers=1"),
            **pipeline_option_values(args),
        )
        if not args.verbose:
            local_runner.quiet_logs()
        progress = local_runner.run(
            tfx_pipeline.create_pipeline(settings), runner=args.runner, quiet=not args.verbose
        )
        summary = run_summary.summarize(settings.metadata_path)
        summary["bad_rows"] = run_summary.collect_bad_rows(summary, output / "bad_rows")
        summary["wall_seconds"] = round(time.time() - started, 1)
        summary["component_seconds"] = progress.seconds
        summary["reused_components"] = progress.reused
        summary["data"] = list(source.files)
        (output / run_summary.SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    print(run_summary.format_summary(summary))
    print(f"  summary: {output / run_summary.SUMMARY_FILE}")
    if args.require_push and not summary["pushed"]:
        return EXIT_NOT_BLESSED
    return EXIT_OK
