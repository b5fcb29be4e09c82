"""`rocket convert-taobao`: the public Taobao raw files as EasyRec rows (Beam)."""

from __future__ import annotations

import argparse
import sys
import time

from pipeline.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE


def add_parser(sub) -> None:
    convert = sub.add_parser(
        "convert-taobao",
        help="turn the public Taobao display-ad raw files into EasyRec-format rows (Beam)",
        description="Writes OUTPUT/train/part-*.csv and OUTPUT/eval/part-*.csv (no header, "
        "the 20 EasyRec Taobao columns). `rocket run --data OUTPUT` trains on train/ and "
        "evaluates on the later eval/. "
        "Arguments after `--` go to Beam, e.g. -- --runner=DataflowRunner --project=P ...",
    )
    convert.add_argument("--raw-sample", required=True, help="raw_sample.csv (path or glob)")
    convert.add_argument("--ad-feature", required=True, help="ad_feature.csv (path or glob)")
    convert.add_argument("--user-profile", required=True, help="user_profile.csv (path or glob)")
    convert.add_argument("--behavior-log", required=True, help="behavior_log.csv (path or glob)")
    convert.add_argument("--output", required=True, help="output folder (local or gs://)")
    convert.add_argument(
        "--history-days",
        type=float,
        default=7.0,
        help="tag lists: behaviour at most this many days before the impression (7)",
    )
    convert.add_argument(
        "--max-tags", type=int, default=50, help="tag lists: the most recent N events (50)"
    )
    convert.add_argument(
        "--eval-days",
        type=float,
        default=1.0,
        help="eval split: the impressions of the last N days of raw_sample (1)",
    )
    convert.add_argument(
        "--eval-start",
        type=int,
        help="eval split: impressions at or after this unix time (overrides --eval-days)",
    )
    convert.add_argument("beam_args", nargs="*", help="Beam pipeline options, after `--`")
    convert.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from pipeline import taobao_convert
    from pipeline.taobao_rows import ConvertOptions, TaobaoInputError

    started = time.time()
    options = ConvertOptions(
        raw_sample=args.raw_sample,
        ad_feature=args.ad_feature,
        user_profile=args.user_profile,
        behavior_log=args.behavior_log,
        output=args.output,
        history_days=args.history_days,
        max_tags=args.max_tags,
        eval_days=args.eval_days,
        eval_start=args.eval_start,
        beam_args=tuple(args.beam_args),
    )
    try:
        files = taobao_convert.prepare(options)
    except TaobaoInputError as error:  # an option, a missing input, the output
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = taobao_convert.run(options, files)  # a bad row is an error (exit 1)
    except TaobaoInputError as error:  # e.g. a raw sample with no rows
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    counts = result.counts
    print(
        f"[convert-taobao] {counts.get('train_rows', 0)} train rows -> "
        f"{args.output}/train/, {counts.get('eval_rows', 0)} eval rows -> {args.output}/eval/ "
        f"({time.time() - started:.1f}s)"
    )
    print(
        f"  impressions without a profile: {counts.get('impressions_without_profile', 0)}, "
        f"without an ad: {counts.get('impressions_without_ad', 0)}"
    )
    # The folder, not OUTPUT/train: `--data OUTPUT` keeps the time-ordered eval/ split.
    print(f"  train with: rocket run --data {args.output}")
    return EXIT_OK
