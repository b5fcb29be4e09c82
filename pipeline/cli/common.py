"""What the commands share: exit codes, argument types, the configuration options."""

from __future__ import annotations

import argparse
import math

from pipeline.errors import UsageError

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
