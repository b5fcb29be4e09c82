"""The training-time part: examples/s of light alone, rocket and booster alone on the
same cached batches, in interleaved rounds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.bench.data import BenchData
from pipeline.bench.quality import train_dataset, variant_config
from pipeline.bench.settings import (
    BOOSTER_ALONE,
    EASYREC_TRAIN_EXAMPLES_PER_S,
    LIGHT_ALONE,
    ROCKET,
    BenchSettings,
)
from pipeline.bench.timing import ratio, time_interleaved


def measure_training(
    data: BenchData, base, settings: BenchSettings, log: Callable[[str], None] = print
) -> dict:
    """Examples/s of light alone, rocket and booster alone on the same cached batches,
    timed in interleaved rounds after one untimed warm-up round (tracing)."""
    import rocket_model
    import rocket_training
    import tensorflow as tf

    steps = settings.training_steps_per_round
    batches = train_dataset(data, settings.batch_size, seed=0).take(steps).cache().repeat()
    functions, iterators = {}, {}
    for kind in (LIGHT_ALONE, ROCKET, BOOSTER_ALONE):
        config = variant_config(base, kind, 0, steps, settings.batch_size, data.train_rows)
        model = rocket_model.build_model(
            config, rocket_training.table_sizes(config, data.tft_output)
        )
        functions[kind] = model.make_train_function()
        iterators[kind] = iter(batches)

    def round_of(kind: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(steps):
                logs = functions[kind](iterators[kind])
            tf.nest.map_structure(lambda t: t.numpy(), logs)

        return run

    seconds = time_interleaved(
        {kind: round_of(kind) for kind in functions}, settings.training_rounds, warmup=1
    )
    per_step = {kind: float(np.median(s)) / steps for kind, s in seconds.items()}
    rates = {
        kind: {
            "examples_per_second": round(settings.batch_size / t, 1),
            "ms_per_step": round(t * 1000, 3),
            "rounds_examples_per_second": [
                round(settings.batch_size * steps / s, 1) for s in seconds[kind]
            ],
        }
        for kind, t in per_step.items()
    }
    log(
        "[bench] training examples/s: "
        + ", ".join(f"{k} {v['examples_per_second']:.0f}" for k, v in rates.items())
    )
    # Ratios per round (the three were timed back to back), then the median: the load of
    # a shared machine changes between rounds, much less within one.
    rounds = range(settings.training_rounds)
    light, rocket, booster = (seconds[k] for k in (LIGHT_ALONE, ROCKET, BOOSTER_ALONE))
    over_booster = [rocket[r] / booster[r] for r in rounds]
    over_separate = [rocket[r] / (light[r] + booster[r]) for r in rounds]
    return {
        "batch_size": settings.batch_size,
        "steps_per_round": steps,
        "rounds": settings.training_rounds,
        "batches": f"the same {steps} cached batches of the {data.name} train split for all",
        "variants": rates,
        "ratios": "median over rounds of the ratio within each round",
        "rocket_over_booster_time": round(float(np.median(over_booster)), 4),
        "rocket_over_separate_time": round(float(np.median(over_separate)), 4),
        "rounds_rocket_over_booster_time": [round(v, 4) for v in over_booster],
        "rocket_over_easyrec_examples_per_second": ratio(
            rates[ROCKET]["examples_per_second"], EASYREC_TRAIN_EXAMPLES_PER_S
        ),
    }
