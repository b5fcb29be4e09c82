"""The scale part of `rocket bench` (pipeline.bench.scale) on tiny input.

The generator is checked against what it promises (exact distinct id counts, ExampleGen's
tf.Examples); the measured run is checked for real behaviour, not timings: the
vocabularies TFT found are the ids above the frequency floor, every row comes out of
Transform with 1 and with 2 Beam workers, the workers were separate processes, and the
Trainer trained on the Transform output with tables of its size.
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import rocket_seed
import tensorflow as tf

from components.easyrec_example_gen.row_parser import Column, RowParser
from pipeline import cli
from pipeline.bench import runner, scale_data
from pipeline.bench.settings import JSON_FILE, TABLE_FILE, BenchSettings, ScaleSettings

# 3,000 rows over 2,000 users: users 1..1000 appear twice, 1001..2000 once, so with the
# default frequency floor of 2 the user vocabulary holds 1,000 ids; every ad appears 3x.
TINY = ScaleSettings(
    rows=3000,
    users=2000,
    ads=1000,
    train_steps=4,
    warmup_steps=2,
    batch_size=64,
    shards=2,
    small_table_rows=100,
)
TINY_BENCH = dataclasses.replace(BenchSettings.quick(), mode="tiny", scale=TINY)


def test_generated_ids_are_exactly_the_distinct_counts_asked():
    data = scale_data.generate(TINY)
    assert len(np.unique(data.user)) == 2000 and len(np.unique(data.ad)) == 1000
    assert sorted(np.bincount(data.user).tolist()) == [1] * 1000 + [2] * 1000
    assert set(np.bincount(data.ad).tolist()) == {3}
    assert scale_data.vocabulary_floor_sizes(data, 2) == {"user_id": 1000, "adgroup_id": 1000}


def test_click_rate_is_realistic():
    data = scale_data.generate(ScaleSettings(rows=40_000, users=20_000, ads=10_000))
    assert 0.04 < data.clk.mean() < 0.06


def test_examples_equal_what_example_gen_parses_from_the_csv_line():
    import rocket_seed

    data = scale_data.generate(TINY)
    config = rocket_seed.default_config()
    parser = RowParser(
        [Column(f.name, f.type) for f in config.input_fields], label_field=config.label_field
    )
    encoded = scale_data.encoded_examples(data)(0, 600)
    for i, record in enumerate(encoded):
        expected = parser.parse(data.csv_line(i).encode(), "generated", i + 1)
        assert tf.train.Example.FromString(record) == expected, data.csv_line(i)
    # Missing values are absent features, as ExampleGen writes them.
    no_history = int(np.flatnonzero(data.user_pattern[data.user[:600]] < 0)[0])
    example = tf.train.Example.FromString(encoded[no_history])
    assert "tag_category_list" not in example.features.feature


def test_settings_are_checked():
    with pytest.raises(ValueError, match="rows"):
        ScaleSettings(rows=10, users=20, ads=5).check()
    assert BenchSettings.quick().scale is None
    full = BenchSettings.full().scale
    assert (full.users, full.ads) == (1_000_000, 500_000) and full.rows >= 2 * full.users


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("scale")
    result = runner.run_scale_only(output, TINY_BENCH, log=lambda _: None)
    return output, result["scale"]


@pytest.mark.slow  # two Beam pipelines and a training run in subprocesses: ~2 minutes
def test_transform_finds_the_vocabularies_and_keeps_every_row(scale_run):
    _, block = scale_run
    assert block["vocabulary_sizes"] == {"user_id": 1000, "adgroup_id": 1000}
    assert block["data"]["expected_vocabulary_sizes"] == block["vocabulary_sizes"]
    assert set(block["transform"]) == {"1", "2"}
    for workers, run in block["transform"].items():
        assert run["transformed_rows"] == TINY.rows
        assert run["vocabulary_sizes"]["user_id"] == 1000
        assert run["rows_per_second"] > 0 and run["peak_memory_mb"] > 0
        # The runner process and its Beam workers (each started through a shell).
        assert run["peak_processes"] >= 1 + int(workers)
    rates = {k: v["rows_per_second"] for k, v in block["transform"].items()}
    assert block["transform_scaling_2_over_1"] == pytest.approx(rates["2"] / rates["1"], rel=1e-2)


@pytest.mark.slow
def test_trainer_trains_on_tables_of_the_transform_output(scale_run):
    _, block = scale_run
    train = block["training"]
    assert train["table_sizes"]["user_id"] == 1000 + 10  # vocabulary + OOV buckets
    assert train["table_sizes"]["adgroup_id"] == 1000 + 10
    assert train["examples_per_second"] > 0 and train["peak_memory_mb"] > 0
    assert np.isfinite(train["final_loss"])
    dim = rocket_seed.EMBEDDING_DIM  # the default features' width
    user_mb = 1010 * dim * 4 * 3 / 2**20  # weights + Adam's m and v
    assert train["embedding_memory_estimate_mb"]["user_id"] == pytest.approx(user_mb, abs=0.06)
    # The same data with lazy Adam, and with every table capped at 100 rows (ids folded).
    lazy, small = block["training_lazy_adam"], block["training_small_tables"]
    assert (train["optimizer"], lazy["optimizer"], small["optimizer"]) == (
        "adam", "lazy_adam", "adam"
    )  # fmt: skip
    assert lazy["table_sizes"] == train["table_sizes"]
    assert small["table_sizes"]["user_id"] == small["table_sizes"]["adgroup_id"] == 100
    assert small["table_sizes"]["price"] == train["table_sizes"]["price"] == 51  # under 100
    for run in (lazy, small):
        assert run["examples_per_second"] > 0 and np.isfinite(run["final_loss"])
    speed = {k: block[k]["examples_per_second"] for k in ("training", "training_lazy_adam")}
    small_speed = small["examples_per_second"]
    assert block["lazy_over_small_tables"] == pytest.approx(
        speed["training_lazy_adam"] / small_speed, rel=1e-2
    )
    assert block["adam_over_small_tables"] == pytest.approx(
        speed["training"] / small_speed, rel=1e-2
    )


@pytest.mark.slow
def test_only_scale_writes_the_scale_key_and_section(scale_run):
    output, block = scale_run
    written = json.loads((output / JSON_FILE).read_text())
    assert list(written) == ["scale"] and written["scale"]["measured"]["mode"] == "tiny"
    table = (output / TABLE_FILE).read_text()
    assert "## Scale" in table and "transform_scaling_2_over_1" in table
    assert f"lazy_over_small_tables: {block['lazy_over_small_tables']}" in table
    assert f"{os.cpu_count()} cores" in block["note"]


def test_only_scale_takes_no_quick_or_data(tmp_path, capsys):
    code = cli._main(["bench", "--only", "scale", "--quick", "--output", str(tmp_path)])
    assert code == cli.EXIT_USAGE
    assert "--only scale" in capsys.readouterr().err
    assert cli._main(["bench", "--only", "nope", "--output", str(tmp_path)]) == cli.EXIT_USAGE
