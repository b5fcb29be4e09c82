"""The serving part and the light-net sweep's latencies: nets exported as the Trainer
exports them, loaded back and called on batches of serialized tf.Examples, side by side
with the parse floor (tf.io.parse_example alone)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pipeline.bench.data import BenchData
from pipeline.bench.settings import (
    BOOSTER_ALONE,
    EASYREC_LIGHT_MS_B512,
    EASYREC_PARSE_FLOOR_MS_B512,
    LIGHT_ALONE,
    ROCKET,
    BenchSettings,
)
from pipeline.bench.timing import latency_stats, ratio, time_interleaved


def export_and_load(path, data: BenchData, label_field: str, directory: Path):
    """Export one net's path (a NetPath, or the served blend of rocket_blend) as the
    Trainer does (rocket_export.export_net) and load its serving_default signature back."""
    import rocket_export
    import tensorflow as tf

    shutil.rmtree(directory, ignore_errors=True)
    rocket_export.export_net(path, data.tft_output, label_field, str(directory))
    return tf.saved_model.load(str(directory)).signatures["serving_default"]


def parse_floor(data: BenchData, label_field: str, used: list[str]):
    """tf.io.parse_example alone, with the serving function's feature spec: the floor."""
    import rocket_export
    import tensorflow as tf

    spec = rocket_export.serving_feature_spec(
        data.tft_output.raw_feature_spec(), label_field, used=used
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def parse(examples):
        parsed = tf.io.parse_example(examples, spec)
        # One small output (ParseExampleV2 is one kernel: every feature is parsed anyway).
        # Returning its 3 tensors per feature would add ~1 ms of Python per call at batch 1,
        # while the served models return 2 tensors.
        return tf.stack([tf.size(parsed[name].values) for name in sorted(parsed)])

    # A concrete function, as the loaded serving signatures are: the same call path.
    return parse.get_concrete_function()


def serving_batches(examples: list[bytes], sizes: tuple[int, ...]) -> dict:
    """Batches of serialized examples (the eval rows, cycled when there are too few)."""
    import tensorflow as tf

    batches = {}
    for size in sizes:
        rows = [examples[i % len(examples)] for i in range(size)]
        batches[size] = tf.constant(rows)
    return batches


def _call_model(signature, batch):
    return lambda: signature(examples=batch)["probabilities"].numpy()


def _call_parse(parse, batch):
    return lambda: parse(batch).numpy()


def measure_serving(
    servables: dict[str, Any], parse, batches: dict, repeats: int, warmup: int
) -> dict:
    """Latency of each servable (and the parse floor) per batch size, interleaved."""
    out = {}
    for size, batch in batches.items():
        calls = {name: _call_model(sig, batch) for name, sig in servables.items()}
        if parse is not None:
            calls["parse_floor"] = _call_parse(parse, batch)
        seconds = time_interleaved(calls, repeats, warmup)
        out[str(size)] = {name: latency_stats(s, size) for name, s in seconds.items()}
    return out


def sweep_name(units: tuple[int, ...]) -> str:
    return "light_" + ("x".join(str(u) for u in units) if units else "none")


def serving_block(latency: dict, settings: BenchSettings, data: BenchData, meta: dict) -> dict:
    big = str(max(settings.serving_batch_sizes))
    small = str(min(settings.serving_batch_sizes))

    def over(size: str, a: str, b: str) -> float | None:
        return ratio(latency[size][a]["median_ms"], latency[size][b]["median_ms"])

    light_big = latency[big]["light"]["median_ms"]
    block = {
        "examples": f"serialized raw tf.Examples (no label) of the {data.name} eval split",
        "models": "light and booster of the last seed's rocket model, each exported with "
        "rocket_export.export_net (TFT layer + one net), loaded with tf.saved_model.load; "
        "served: what the Trainer pushes by default, that light net blended with the last "
        "seed's linear variant (rocket_blend.served_path at weight 0.5), exported the same way",
        "parse_floor": "tf.io.parse_example alone in a tf.function, same feature spec",
        "warmup_calls": settings.serving_warmup,
        "repeats": settings.serving_repeats,
        "batches": latency,
        "light_over_booster_latency_b512": over(big, "light", "booster"),
        "light_over_parse_floor_b512": over(big, "light", "parse_floor"),
        "light_over_booster_latency_b1": over(small, "light", "booster"),
        "light_over_parse_floor_b1": over(small, "light", "parse_floor"),
        "easyrec_light_ms_b512": EASYREC_LIGHT_MS_B512,
        "light_speedup_over_easyrec_b512": ratio(EASYREC_LIGHT_MS_B512, light_big),
        "served_over_light_latency_b512": over(big, "served", "light"),
        "served_speedup_over_easyrec_b512": ratio(
            EASYREC_LIGHT_MS_B512, latency[big]["served"]["median_ms"]
        ),
        "served_over_parse_floor_b512": over(big, "served", "parse_floor"),
        "largest_batch": int(big),
        "measured": meta,
    }
    return {**block, **speedups_in_parse_floors(block)}


def speedups_in_parse_floors(serving: dict) -> dict:
    """EasyRec's light net against ours in units of the parse floor timed beside each
    (settings.EASYREC_PARSE_FLOOR_MS_B512): a ratio that holds when the shared machine
    is faster or slower than when EasyRec was timed, where the milliseconds do not.
    Ours are the serving block's `light_` and `served_over_parse_floor_b512`."""
    easyrec_floors = EASYREC_LIGHT_MS_B512 / EASYREC_PARSE_FLOOR_MS_B512
    out = {"easyrec_light_parse_floors_b512": round(easyrec_floors, 4)}
    for name in ("light", "served"):
        out[f"{name}_speedup_over_easyrec_in_parse_floors_b512"] = ratio(
            easyrec_floors, serving[f"{name}_over_parse_floor_b512"]
        )
    return out


def sweep_block(settings, base, results, sweep_results, latency, data, meta) -> dict:
    big, small = str(max(settings.serving_batch_sizes)), "1"

    def lat(name: str, size: str) -> float | None:
        entry = latency.get(size, {}).get(name)
        return entry["median_ms"] if entry else None

    points = []
    for units in settings.sweep:
        name = sweep_name(units)
        scores = (
            results[ROCKET] if units == base.model.light_dnn.hidden_units else sweep_results[name]
        )
        points.append(
            {
                "name": name,
                "light_dnn": list(units),
                "auc": scores["auc"],
                "gauc": scores["gauc"],
                "latency_ms_b512": lat(name, big),
                "latency_ms_b1": lat(name, small),
            }
        )
    reference = {
        name: {
            "auc": results[name]["auc"],
            "gauc": results[name]["gauc"],
            "latency_ms_b512": lat(name, big),
            "latency_ms_b1": lat(name, small),
        }
        for name in (BOOSTER_ALONE, LIGHT_ALONE)
    }
    return {
        "data": data.source,
        "seeds": list(range(settings.seeds)),
        "train_steps": settings.train_steps,
        "note": "rocket launching with light nets of decreasing size (none = the light head "
        "straight on the shared tower); latency measured side by side with the booster and "
        "light alone, median of interleaved calls",
        "points": points,
        **reference,
        "measured": meta,
    }
