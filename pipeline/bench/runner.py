"""`rocket bench`'s runs: every part side by side (run_bench), or one part alone
(run_quality_only, run_serving_only, run_scale_only, run_size_only), each writing under
`output`."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rocket_config  # TensorFlow-free
import rocket_seed

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipeline.bench import quality_at_size
from pipeline.bench.compare_runs import compare_default_runs, comparison_lines
from pipeline.bench.data import BenchData, load_main, load_real
from pipeline.bench.pipeline_runs import measure_pipeline, measure_pipeline_at_size
from pipeline.bench.plots import plot_latency_vs_batch
from pipeline.bench.quality import measure_quality, run_variants
from pipeline.bench.report import (
    pipeline_table,
    quality_lines,
    scale_lines,
    serving_lines,
    targets_lines,
    write_alone,
    write_outputs,
)
from pipeline.bench.scale import run_scale
from pipeline.bench.serving import (
    export_and_load,
    measure_serving,
    parse_floor,
    serving_batches,
    serving_block,
    sweep_block,
    sweep_name,
)
from pipeline.bench.settings import (
    BOOSTER_ALONE,
    JSON_FILE,
    LATENCY_PLOT,
    LIGHT_ALONE,
    LINEAR,
    LINEAR_VARIANT,
    ROCKET,
    TABLE_FILE,
    BenchError,
    BenchSettings,
)
from pipeline.bench.targets import serving_targets, training_targets
from pipeline.bench.training import measure_training


def machine() -> str:
    cores = os.cpu_count()
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GB"
    except (ValueError, OSError):
        memory = "unknown memory"
    return f"{cores} cores, {memory}, {platform.system()} {platform.machine()} (shared)"


def _meta(settings: BenchSettings, command: str) -> dict:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "mode": settings.mode,
    }


def _start(
    output: Path, settings: BenchSettings, command: str
) -> tuple[float, dict, rocket_config.RocketConfig]:
    """A run's start: its clock, the output folder, its meta and the default config."""
    output.mkdir(parents=True, exist_ok=True)
    return time.time(), _meta(settings, command), rocket_seed.default_config()


@contextlib.contextmanager
def _scratch():
    """A scratch folder for the analysed data, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="rocket_bench_"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_serving_part(
    main: BenchData,
    real: BenchData | None,
    kept: dict,
    base,
    settings: BenchSettings,
    exports: Path,
    meta: dict,
    log: Callable[[str], None],
) -> tuple[dict, dict, dict]:
    """The serving part: rocket's light net, its booster and the served light model (the
    light net blended with the linear variant's model), exported as the Trainer exports
    them under `exports`, loaded back and timed side by side with the parse floor.
    Returns the part's block, the loaded signatures and the batches."""
    import rocket_blend
    import rocket_model

    label = base.label_field
    light_path = kept[ROCKET].net_path(rocket_model.LIGHT)
    served_path = rocket_blend.served_path(
        light_path, kept[LINEAR].net_path(rocket_model.LIGHT), rocket_blend.EVEN
    )
    servables = {
        "light": export_and_load(light_path, main, label, exports / "light"),
        "booster": export_and_load(
            kept[ROCKET].net_path(rocket_model.BOOSTER), main, label, exports / "booster"
        ),
        "served": export_and_load(served_path, main, label, exports / "served"),
    }
    floor = parse_floor(main, label, [c for f in base.model_features() for c in f.columns()])
    # Served rows: the real sample's when present (EasyRec's 13.3 ms was measured on
    # real rows; their tag lists are longer than the generator's), else the main
    # dataset's. The models are the main dataset's: unseen ids cost the same lookups.
    served = real if real is not None else main
    batches = serving_batches(served.eval_examples, settings.serving_batch_sizes)
    latency = measure_serving(
        servables, floor, batches, settings.serving_repeats, settings.serving_warmup
    )
    serving = serving_block(latency, settings, served, meta)
    log(
        f"[bench] serving b{max(settings.serving_batch_sizes)}: light/booster "
        f"{serving['light_over_booster_latency_b512']}, light/parse "
        f"{serving['light_over_parse_floor_b512']}, served/light "
        f"{serving['served_over_light_latency_b512']}"
    )
    return serving, servables, batches


def run_bench(
    output: Path,
    settings: BenchSettings,
    data: str | None = None,
    real_sample: Path | None = None,
    command: str = "rocket bench",
    log: Callable[[str], None] = print,
) -> dict:
    """Every part, then benchmark.json, the plots and benchmark.md under `output`."""
    import rocket_model

    started, meta, base = _start(output, settings, command)
    label = base.label_field
    with _scratch() as workdir:
        main = load_main(settings, base, data, output, workdir, log)
        run = measure_quality(settings, base, main, real_sample, workdir, meta, log)
        quality, results, kept, real = run.quality, run.results, run.kept, run.real
        seeds = list(range(settings.seeds))
        step_args = (settings.train_steps, settings.batch_size)
        sweep_variants = {
            sweep_name(units): (ROCKET, {"light_dnn": rocket_config.DNNConfig(units)})
            for units in settings.sweep
            if units != base.model.light_dnn.hidden_units
        }

        # Sweep: rocket launching with smaller light nets (the seed's is the rocket above).
        sweep_results, sweep_models = run_variants(
            main, base, seeds, *step_args, sweep_variants, keep_seed=seeds[-1], log=log
        )

        exports = output / "exports"
        serving, servables, batches = measure_serving_part(
            main, real, kept, base, settings, exports, meta, log
        )

        # Sweep latencies, side by side with the booster and the light alone.
        sweep_servables = {
            name: export_and_load(kept[name].net_path(net), main, label, exports / name)
            for name, net in ((BOOSTER_ALONE, rocket_model.BOOSTER),
                              (LIGHT_ALONE, rocket_model.LIGHT))
        }  # fmt: skip
        sweep_servables[sweep_name(base.model.light_dnn.hidden_units)] = servables["light"]
        for name, model in sweep_models.items():
            sweep_servables[name] = export_and_load(
                model.net_path(rocket_model.LIGHT), main, label, exports / name
            )
        sweep_sizes = tuple(s for s in (1, max(settings.serving_batch_sizes)) if s in batches)
        sweep_latency = measure_serving(
            sweep_servables,
            None,
            {s: batches[s] for s in sweep_sizes},
            settings.serving_repeats,
            settings.serving_warmup,
        )
        sweep = sweep_block(settings, base, results, sweep_results, sweep_latency, main, meta)

        training = measure_training(main, base, settings, log=log)
        training["measured"] = meta
        training["targets"] = training_targets(training)

        pipeline_part = measure_pipeline(settings, output, log)
        pipeline_part["measured"] = meta
        at_size = measure_pipeline_at_size(settings, output, log)

        scale = None
        if settings.scale is not None:
            scale = run_scale(settings.scale, log=log)

    result = {
        "quality": quality,
        "sweep": sweep,
        "serving": serving,
        "training": training,
        "pipeline": pipeline_part,
    }
    if at_size is not None:
        result["pipeline_at_size"] = at_size
    if scale is not None:
        result["scale"] = scale
    for part in result:
        result[part]["measured"] = {**meta, "bench_wall_seconds": round(time.time() - started, 1)}
    write_outputs(result, output)
    log(f"[bench] wrote {output / JSON_FILE}, {output / TABLE_FILE} ({time.time() - started:.0f}s)")
    return result


def run_size_only(
    output: Path,
    settings: BenchSettings,
    command: str = "rocket bench --only size",
    log: Callable[[str], None] = print,
    compare_with: str | None = None,
    compare_rounds: int = 1,
) -> dict:
    """The default `rocket run` and the run at size, side by side: benchmark.json with the
    keys `pipeline` and `pipeline_at_size`, and benchmark.md. With `compare_with` (a git
    ref), instead the default run of that commit and of this checkout, interleaved
    (compare_runs): the key `comparison`, its table and plot."""
    if settings.pipeline_at_size_args is None or settings.pipeline_args is None:
        raise BenchError(f"the {settings.mode} mode has no pipeline-at-size part")
    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    meta = _meta(settings, command)
    if compare_with is not None:
        block = compare_default_runs(
            compare_with, settings.pipeline_args, compare_rounds, output, log
        )
        result = {"comparison": block}
        return write_alone(output, "size", result, comparison_lines(block), meta, started, log)
    result = {
        "pipeline": measure_pipeline(settings, output, log),
        "pipeline_at_size": measure_pipeline_at_size(settings, output, log),
    }
    lines = pipeline_table(result["pipeline"], result["pipeline_at_size"])
    return write_alone(output, "size", result, lines, meta, started, log)


def run_serving_only(
    output: Path,
    settings: BenchSettings,
    real_sample: Path | None = None,
    command: str = "rocket bench --only serving",
    log: Callable[[str], None] = print,
) -> dict:
    """The serving part alone: rocket and the linear variant trained once (seed 0, the
    mode's steps; a latency does not depend on the weights) on the generated rows, then
    timed as the full bench times them, on the real sample's rows when present:
    benchmark.json with the one key `serving` and its targets, benchmark.md and the
    latency plot. Minutes, where the full bench takes most of an hour."""
    started, meta, base = _start(output, settings, command)
    with _scratch() as workdir:
        main = load_main(settings, base, None, output, workdir, log)
        real = None
        if real_sample is not None and real_sample.exists():
            real = load_real(settings, base, real_sample, workdir, log)
        variants = {ROCKET: (ROCKET, {}), LINEAR: LINEAR_VARIANT}
        steps = (settings.train_steps, settings.batch_size)
        _, kept = run_variants(main, base, [0], *steps, variants, keep_seed=0, log=log)
        serving, _, _ = measure_serving_part(
            main, real, kept, base, settings, output / "exports", meta, log
        )
    serving["targets"] = serving_targets(serving)
    result = {"serving": serving}
    plot_latency_vs_batch(result, output / LATENCY_PLOT)
    lines = serving_lines(serving) + targets_lines(result, ("serving",))
    return write_alone(output, "serving", result, lines, meta, started, log)


def run_scale_only(
    output: Path,
    settings: BenchSettings,
    command: str = "rocket bench --only scale",
    log: Callable[[str], None] = print,
) -> dict:
    """The scale part alone: benchmark.json with the one key `scale`, and benchmark.md."""
    if settings.scale is None:
        raise BenchError(f"the {settings.mode} mode has no scale part")
    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    meta = _meta(settings, command)
    scale = run_scale(settings.scale, log=log)
    lines = scale_lines(scale)
    return write_alone(output, "scale", {"scale": scale}, lines, meta, started, log)


def run_quality_only(
    output: Path,
    settings: BenchSettings,
    data: str | None = None,
    real_sample: Path | None = None,
    command: str = "rocket bench --only quality",
    log: Callable[[str], None] = print,
) -> dict:
    """The quality part alone (every variant over the seeds, ablations in full mode, the
    real sample): benchmark.json with the one key `quality`, and benchmark.md."""
    started, meta, base = _start(output, settings, command)
    with _scratch() as workdir:
        main = load_main(settings, base, data, output, workdir, log)
        quality = measure_quality(settings, base, main, real_sample, workdir, meta, log).quality
    result = {"quality": quality}
    lines = quality_lines(quality) + targets_lines(result, ("quality",))
    return write_alone(output, "quality", result, lines, meta, started, log)


def run_quality_at_size_only(
    output: Path,
    at_size: quality_at_size.AtSizeSettings,
    settings: BenchSettings,
    command: str = "rocket bench --only quality-at-size",
    log: Callable[[str], None] = print,
) -> dict:
    """The quality part at size alone: benchmark.json with the one key
    `quality_at_size`, and benchmark.md."""
    started = time.time()
    output.mkdir(parents=True, exist_ok=True)
    meta = _meta(settings, command)
    block = quality_at_size.measure(at_size, log)
    result = {quality_at_size.KEY: block}
    lines = quality_at_size.lines(block)
    return write_alone(output, "quality-at-size", result, lines, meta, started, log)
