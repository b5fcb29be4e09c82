"""The targets of the quality, serving and training parts: each a value against a goal,
met, missed or n/a."""

from __future__ import annotations

from pipeline.bench.settings import LINEAR, ROCKET


def target(name: str, value: float | None, op: str, goal: float, note: str = "") -> dict:
    if value is None:
        met = None
    else:
        met = {"<=": value <= goal, ">=": value >= goal, "<": value < goal, ">": value > goal}[op]
    return {"target": f"{name} {op} {goal}", "value": value, "met": met, "note": note}


def quality_targets(quality: dict, main: str) -> list[dict]:
    targets = []
    for dataset in (main, "taobao_sample"):
        block = quality.get(dataset, {})
        if "gap_closed" not in block:
            continue
        if LINEAR in block["variants"]:
            light, linear = block["variants"][ROCKET]["auc"], block["variants"][LINEAR]["auc"]
            targets.append(
                target(
                    f"rocket light AUC − linear AUC ({dataset})",
                    round(light["mean"] - linear["mean"], 5),
                    ">",
                    max(light["std"], linear["std"]),
                    "beyond the seeds' spread (the larger std of the two)",
                )
            )
        for metric in ("auc", "gauc"):
            gap = block["gap_closed"][metric]
            targets.append(
                target(
                    f"gap_closed ({dataset}, {metric.upper()})",
                    gap["value"],
                    ">=",
                    0.6,
                    gap["why_null"] or "",
                )
            )
    return targets


def serving_targets(serving: dict) -> list[dict]:
    return [
        target("light_over_parse_floor_b512", serving["light_over_parse_floor_b512"], "<=", 2.0),
        target(
            "light_over_booster_latency_b512",
            serving["light_over_booster_latency_b512"],
            "<=",
            0.8,
        ),
        # Against EasyRec in parse floors (serving.speedups_in_parse_floors): its 13.3 ms
        # is a constant, and this machine's speed moves between runs.
        target(
            "light_speedup_over_easyrec_in_parse_floors_b512 (6.65 floors / light's)",
            serving["light_speedup_over_easyrec_in_parse_floors_b512"],
            ">=",
            2.5,
        ),
        target(
            "served_speedup_over_easyrec_in_parse_floors_b512 (6.65 floors / served blend's)",
            serving["served_speedup_over_easyrec_in_parse_floors_b512"],
            ">=",
            2.5,
        ),
    ]


def training_targets(training: dict) -> list[dict]:
    return [
        target(
            "rocket training examples/s over EasyRec's 2,400",
            training["rocket_over_easyrec_examples_per_second"],
            ">=",
            2.0,
        ),
        target("rocket_over_booster_time", training["rocket_over_booster_time"], "<=", 1.3),
        target("rocket_over_separate_time", training["rocket_over_separate_time"], "<", 1.0),
    ]
