"""What `rocket bench` writes: benchmark.json (NaN as null), the plots and benchmark.md,
for the whole bench and for a part run alone (`--only`)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.bench.plots import plot_latency_vs_batch, plot_quality_vs_latency
from pipeline.bench.settings import (
    BOOSTER_ALONE,
    EASYREC_LIGHT_MS_B512,
    EASYREC_PARSE_FLOOR_MS_B512,
    JSON_FILE,
    LATENCY_PLOT,
    LIGHT_ALONE,
    QUALITY_PLOT,
    TABLE_FILE,
)
from pipeline.bench.targets import serving_targets


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (json would write invalid NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_outputs(result: dict, output: Path) -> None:
    result["serving"]["targets"] = serving_targets(result["serving"])
    (output / JSON_FILE).write_text(json.dumps(_clean(result), indent=2) + "\n")
    plot_quality_vs_latency(result, output / QUALITY_PLOT)
    plot_latency_vs_batch(result, output / LATENCY_PLOT)
    (output / TABLE_FILE).write_text(markdown(result))


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: a float to `digits` places, "n/a" for a missing value."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def plus_minus(stats: dict) -> str:
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def score_row(name: str, scores: dict) -> str:
    """A table row: the name, AUC and GAUC as mean ± std."""
    return f"| {name} | {plus_minus(scores['auc'])} | {plus_minus(scores['gauc'])} |"


def quality_lines(quality: dict) -> list[str]:
    """The Quality section of benchmark.md: one table per dataset, gap_closed, ablations."""
    lines = [
        "## Quality (eval split; mean ± std over seeds)",
        "",
    ]
    for name, block in quality.items():
        if name in ("measured", "targets"):
            continue
        if "skipped" in block:
            lines += [f"**{name}**: skipped: {block['skipped']}", ""]
            continue
        lines += [
            f"**{name}**: {block['data']}; split {block['split']}; "
            f"{block['rows']['train']} train / {block['rows']['eval']} eval rows; "
            f"seeds {block['seeds']}; {block['train_steps']} steps of {block['batch_size']}.",
            "",
            "| variant | AUC | GAUC |",
            "|---|---|---|",
        ]
        for variant, scores in block["variants"].items():
            lines.append(score_row(variant, scores))
        for metric in ("auc", "gauc"):
            gap = block["gap_closed"][metric]
            text = fmt(gap["value"]) if gap["value"] is not None else f"null ({gap['why_null']})"
            lines.append(f"\ngap_closed ({metric.upper()}): {text}")
        if "ablations" in block:
            lines += [
                "",
                "Ablations (rocket light net):",
                "",
                "| variant | AUC | GAUC |",
                "|---|---|---|",
            ]
            for variant, scores in block["ablations"].items():
                if isinstance(scores, dict):
                    lines.append(score_row(variant, scores))
        lines.append("")
    return lines


def targets_lines(result: dict, parts: tuple[str, ...]) -> list[str]:
    """The Targets section: every target of `parts`, met or missed."""
    lines = ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for part in parts:
        for t in result[part].get("targets", []):
            met = "n/a" if t["met"] is None else ("met" if t["met"] else "missed")
            note = f" ({t['note']})" if t["note"] else ""
            lines.append(f"| {t['target']} | {fmt(t['value'])} | {met}{note} |")
    return lines


def markdown(result: dict) -> str:
    """benchmark.md: the tables a reader compares, and every target met or missed."""
    meta = result["quality"]["measured"]
    lines = [
        "# rocket bench",
        "",
        f"{meta['date']}; {meta['machine']}; `{meta['command']}` ({meta['mode']} mode, "
        f"{meta.get('bench_wall_seconds', 'n/a')} s).",
        "",
        *quality_lines(result["quality"]),
    ]
    sweep = result["sweep"]
    lines += [
        "## Light-net sweep",
        "",
        "| light net | AUC | GAUC | latency b512 ms | latency b1 ms |",
        "|---|---|---|---|---|",
    ]
    for p in sweep["points"]:
        lines.append(
            f"| rocket {p['name']} | {plus_minus(p['auc'])} | {plus_minus(p['gauc'])} | "
            f"{fmt(p['latency_ms_b512'], 3)} | {fmt(p['latency_ms_b1'], 3)} |"
        )
    for name in (LIGHT_ALONE, BOOSTER_ALONE):
        e = sweep[name]
        lines.append(
            f"| {name} | {plus_minus(e['auc'])} | {plus_minus(e['gauc'])} | "
            f"{fmt(e['latency_ms_b512'], 3)} | {fmt(e['latency_ms_b1'], 3)} |"
        )
    lines += ["", *serving_lines(result["serving"])]
    training = result["training"]
    lines += [
        "",
        "## Training (same cached batches, interleaved rounds)",
        "",
        "| variant | examples/s | ms/step |",
        "|---|---|---|",
    ]
    for name, entry in training["variants"].items():
        lines.append(
            f"| {name} | {entry['examples_per_second']:.0f} | {entry['ms_per_step']:.2f} |"
        )
    lines += [
        "",
        f"rocket_over_booster_time {fmt(training['rocket_over_booster_time'])}, "
        f"rocket_over_separate_time {fmt(training['rocket_over_separate_time'])}.",
        "",
        "## Pipeline (`rocket run`, seconds per component)",
        "",
    ]
    pipe = result["pipeline"]
    apart = pipe.get("measured", {})
    if apart.get("command") not in (None, meta["command"]):  # merged from a run of its own
        lines += [f"Measured apart from the rest: `{apart['command']}`, {apart['date']}.", ""]
    if "component_seconds" in pipe:
        lines += pipeline_table(pipe, result.get("pipeline_at_size"))
    else:
        lines.append(f"skipped: {pipe.get('skipped')}")
    if "scale" in result:
        lines += ["", *scale_lines(result["scale"])]
    lines += targets_lines(result, ("quality", "serving", "training"))
    return "\n".join(lines) + "\n"


def serving_lines(serving: dict) -> list[str]:
    """The serving table (each model and the parse floor by batch size), the ratios, and
    the comparison with EasyRec in parse floors."""
    lines = [
        "## Serving (median / p99 ms, examples/s)",
        "",
        "| batch | light | served (light blended with linear) | booster | parse floor |",
        "|---|---|---|---|---|",
    ]
    for size, entry in sorted(serving["batches"].items(), key=lambda kv: int(kv[0])):
        cells = [
            f"{entry[n]['median_ms']:.3f} / {entry[n]['p99_ms']:.3f} ms, "
            f"{entry[n]['examples_per_second']:.0f}/s"
            for n in ("light", "served", "booster", "parse_floor")
        ]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"light/booster b512 {fmt(serving['light_over_booster_latency_b512'])}, "
        f"b1 {fmt(serving['light_over_booster_latency_b1'])}; light/parse floor b512 "
        f"{fmt(serving['light_over_parse_floor_b512'])}, b1 "
        f"{fmt(serving['light_over_parse_floor_b1'])}; served/light b512 "
        f"{fmt(serving['served_over_light_latency_b512'])}.",
    ]
    if "easyrec_light_parse_floors_b512" in serving:
        lines += [
            "",
            f"Against EasyRec's light net ({EASYREC_LIGHT_MS_B512} ms at b512 where the parse "
            f"floor took {EASYREC_PARSE_FLOOR_MS_B512} ms: "
            f"{fmt(serving['easyrec_light_parse_floors_b512'])} parse floors), in parse floors "
            f"timed in this run: light {fmt(serving['light_over_parse_floor_b512'])} "
            f"({fmt(serving['light_speedup_over_easyrec_in_parse_floors_b512'])}× faster), "
            f"served {fmt(serving['served_over_parse_floor_b512'])} "
            f"({fmt(serving['served_speedup_over_easyrec_in_parse_floors_b512'])}× faster); "
            f"in milliseconds {fmt(serving['light_speedup_over_easyrec_b512'])}× and "
            f"{fmt(serving['served_speedup_over_easyrec_b512'])}×.",
        ]
    return lines


def pipeline_table(pipe: dict, at_size: dict | None) -> list[str]:
    """Seconds per component of the default run, and of the run at size beside it."""
    runs = [pipe] + ([at_size] if at_size else [])
    lines = [f"- `{run['command']}`: {run['note']}." for run in runs]
    lines += [
        "",
        "| component | "
        + " | ".join(f"{run['train_rows'] + run['eval_rows']:,} rows" for run in runs)
        + " |",  # fmt: skip
        "|---" * (len(runs) + 1) + "|",
    ]
    for name in pipe["component_seconds"]:
        cells = [str(run["component_seconds"].get(name, "–")) for run in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **wall** | " + " | ".join(f"**{run['wall_seconds']}**" for run in runs) + " |")
    if at_size:
        lines += [
            "",
            "evaluation_over_trainer_time (ServedModelBaseline + Evaluator over Trainer, "
            f"at size): {fmt(at_size['evaluation_over_trainer_time'])} "
            "(target ≤ 1.0).",
        ]
    return lines


def scale_lines(block: dict) -> list[str]:
    """The Scale section of benchmark.md."""
    data, train = block["data"], block["training"]
    lines = [
        "## Scale (large id space: Transform and Trainer)",
        "",
        f"{data['rows']:,} generated rows, {data['distinct_user_ids']:,} distinct user ids, "
        f"{data['distinct_ad_ids']:,} distinct ad ids, click rate {data['click_rate']}; "
        f"generation {data['generation_seconds']} s ({data['raw_mb']} MB gzipped). "
        f"Vocabularies found: user_id {block['vocabulary_sizes']['user_id']:,}, "
        f"adgroup_id {block['vocabulary_sizes']['adgroup_id']:,} "
        f"(frequency floor {data['frequency_threshold']}).",
        "",
        "| Transform workers | seconds | rows/s | peak memory MB | processes | cores used | "
        "other processes' cores |",
        "|---|---|---|---|---|---|---|",
    ]
    for workers, run in block["transform"].items():
        lines.append(
            f"| {workers} | {run['pipeline_seconds']} | {run['rows_per_second']:,.0f} | "
            f"{run['peak_memory_mb']:,.0f} | {run['peak_processes']} | {run['cores_used']} | "
            f"{run['other_processes_cores']} |"
        )
    ratio = block["transform_scaling_2_over_1"]
    lines += [
        "",
        f"transform_scaling_2_over_1: {'n/a' if ratio is None else ratio}.",
        "",
        f"Trainer: {train['examples_per_second']:,.0f} examples/s "
        f"({block['settings']['train_steps']} steps of {block['settings']['batch_size']} "
        f"after {block['settings']['warmup_steps']} warm-up), peak memory "
        f"{train['peak_memory_mb']:,.0f} MB (cores used {train['cores_used']}, other "
        f"processes' cores {train['other_processes_cores']}); embedding tables estimated "
        f"{train['embedding_memory_estimate_mb']['total']:,} MB with Adam's slots "
        f"(user table {train['table_sizes']['user_id']:,} rows).",
        "",
        "| optimizer, tables | examples/s | peak memory MB |",
        "|---|---|---|",
        *(
            f"| {label} | {block[key]['examples_per_second']:,.0f} | "
            f"{block[key]['peak_memory_mb']:,.0f} |"
            for key, label in (
                ("training", "Adam, full tables"),
                ("training_lazy_adam", "lazy Adam, full tables"),
                (
                    "training_small_tables",
                    f"Adam, tables capped at {block['settings']['small_table_rows']:,} rows",
                ),
            )
        ),
        "",
        f"lazy_over_small_tables: {block['lazy_over_small_tables']} (target ≥ 0.6); "
        f"adam_over_small_tables: {block['adam_over_small_tables']}.",
        "",
        f"{block['note']} Total {block['wall_seconds']} s.",
        "",
    ]
    return lines


def write_alone_files(output: Path, only: str, result: dict, lines: list[str], meta: dict):
    """benchmark.json with `result`, benchmark.md with `lines` under a header naming the
    run (`rocket bench --only ONLY`, its date, machine and command)."""
    (output / JSON_FILE).write_text(json.dumps(_clean(result), indent=2) + "\n")
    header = [
        f"# rocket bench --only {only}",
        "",
        f"{meta['date']}; {meta['machine']}; `{meta['command']}`.",
        "",
    ]
    (output / TABLE_FILE).write_text("\n".join(header + lines))


def write_alone(
    output: Path,
    only: str,
    result: dict,
    lines: list[str],
    meta: dict,
    started: float,
    log: Callable[[str], None],
) -> dict:
    """What `rocket bench --only ONLY` writes: each part stamped `measured`, benchmark.json
    with those parts, benchmark.md with `lines` under a header naming the run."""
    for part in result.values():
        part["measured"] = {**meta, "bench_wall_seconds": round(time.time() - started, 1)}
    write_alone_files(output, only, result, lines, meta)
    log(f"[bench] wrote {output / JSON_FILE}, {output / TABLE_FILE} ({time.time() - started:.0f}s)")
    return result
