"""What the commands share: exit codes, argument types, the configuration options."""

from __future__ import annotations

import argparse
import math

from pipeline.errors import UsageError
from pipeline.settings import EVAL_FRACTION, MAX_AUC_DROP, MIN_AUC, MIN_CLASS_EXAMPLES

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_BLESSED = 0, 1, 2, 3


def count(minimum: int):
    """An argparse type: an integer of at least `minimum` (a count of rows, steps, ...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be {minimum} or more")
        return value

    return parse


def number_in(low: float, high: float, open_interval: bool = False):
    """An argparse type: a finite number in [low, high], or in (low, high) when open."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = low < value < high if open_interval else low <= value <= high
        if not (math.isfinite(value) and inside):
            bounds = f"between {low:g} and {high:g}" + (", exclusive" if open_interval else "")
            raise argparse.ArgumentTypeError(f"{text}: must be {bounds}")
        return value

    return parse


FRACTION = number_in(0.0, 1.0, open_interval=True)  # a share of the rows
AUC = number_in(0.0, 1.0)  # an AUC, or a difference of two
LIFT = number_in(-1.0, 1.0)  # a signed difference of two AUCs


def add_pipeline_options(parser: argparse.ArgumentParser, compiled: bool = False) -> None:
    """The gate, input and training options of `rocket run` and `rocket compile`: one
    definition (name, type and check, default) for both commands, so the two cannot drift
    apart. Their values reach PipelineSettings through `pipeline_option_values` and
    `load_config`; compiled (`compiled`: the help says where things go there), they are
    fixed in the package."""
    bad_rows = "bad_rows/ of ExampleGen's Examples artifact" if compiled else "OUTPUT/bad_rows/"
    train_steps = "training steps (default from config)"
    if compiled:
        train_steps = f"the default of the train_args runtime parameter: {train_steps}"
    parser.add_argument(
        "--min-auc",
        type=AUC,
        default=MIN_AUC,
        help=f"bless the light model only at this eval AUC or above ({MIN_AUC})",
    )
    parser.add_argument(
        "--min-class-examples",
        type=count(0),
        default=MIN_CLASS_EXAMPLES,
        help="bless only with at least N eval clicks and N eval non-clicks "
        f"({MIN_CLASS_EXAMPLES}; 0: no minimum)",
    )
    parser.add_argument(
        "--max-bad-rows",
        type=count(0),
        default=0,
        help=f"set up to N malformed rows aside in {bad_rows} instead of failing (0)",
    )
    parser.add_argument(
        "--max-auc-drop",
        type=AUC,
        default=MAX_AUC_DROP,
        help="bless only if the light AUC is at most this far below the served "
        f"model's ({MAX_AUC_DROP}; a first run has no baseline)",
    )
    parser.add_argument(
        "--min-lift-over-linear",
        type=LIFT,
        default=None,
        metavar="X",
        help="bless only if the light AUC is at least the Trainer's linear baseline AUC + X "
        "(default: no such gate; the verdict still says when the light net is below it)",
    )
    parser.add_argument(
        "--eval-fraction",
        type=FRACTION,
        default=EVAL_FRACTION,
        help=f"share of rows hashed into the eval split ({EVAL_FRACTION})",
    )
    parser.add_argument("--train-steps", type=count(1), help=train_steps)
    parser.add_argument("--batch-size", type=count(1), help="training batch size (default 512)")
    add_fixed_steps(parser)
    add_tune(parser)


def pipeline_option_values(args: argparse.Namespace) -> dict:
    """The values of `add_pipeline_options` that are PipelineSettings fields, by field
    name (kubeflow_compiler.CompileOptions has the same fields); --train-steps,
    --batch-size and --fixed-steps go into the configuration (`load_config`)."""
    return {
        "min_auc": args.min_auc,
        "min_class_examples": args.min_class_examples,
        "max_auc_drop": args.max_auc_drop,
        "min_lift_over_linear": args.min_lift_over_linear,
        "max_bad_rows": args.max_bad_rows,
        "eval_fraction": args.eval_fraction,
        "tune_trials": args.tune,
    }


def add_fixed_steps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fixed-steps",
        action="store_true",
        help="train exactly the step count on every train row and export the final weights "
        "(no validation hold-out, no early stopping; e.g. to time the Trainer)",
    )


def add_tune(parser: argparse.ArgumentParser) -> None:
    from rocket_tuning import DEFAULT_TRIALS

    parser.add_argument(
        "--tune",
        type=count(1),
        nargs="?",
        const=DEFAULT_TRIALS,
        default=0,
        metavar="TRIALS",
        help="run TFX's Tuner before the Trainer: TRIALS trials (default "
        f"{DEFAULT_TRIALS}) over learning rate, embedding regularisation and light-net "
        "widths, each trained as the Trainer trains and scored on the validation rows; "
        "the Trainer then uses the best",
    )


def load_config(args: argparse.Namespace):
    """--config (or the seed's), with --train-steps / --batch-size / --fixed-steps applied."""
    import rocket_config
    import rocket_seed

    if args.config:
        from pipeline import easyrec_config

        config = easyrec_config.load(args.config)
    else:
        config = rocket_seed.default_config()
    train = {}
    if args.train_steps is not None:
        train["train.train_steps"] = args.train_steps
    if args.batch_size is not None:
        train["train.batch_size"] = args.batch_size
    if args.fixed_steps:
        train.update(rocket_config.FIXED_STEPS)
    config = rocket_config.with_changes(config, **train) if train else config
    if getattr(args, "tune", 0) and config.train.validation_fraction <= 0:
        why = "--fixed-steps holds none out" if args.fixed_steps else (
            "the configuration's validation_fraction is 0")  # fmt: skip
        raise UsageError(f"--tune: trials are scored on validation rows, and {why}")
    return config
