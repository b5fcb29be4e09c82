"""The EasyRec ExampleGen executor in a real Beam pipeline: real rows come through exactly,
a bad row stops it with file and line."""

import csv
import gzip
import json
from pathlib import Path

import pytest
import rocket_seed
import tensorflow as tf
from tfx.components.example_gen import utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.easyrec_example_gen.component import (
    predefined_input_config,
    split_output_config,
)
from components.easyrec_example_gen.executor import Executor

COLUMNS = [[f.name, f.type] for f in rocket_seed.TAOBAO_INPUT_FIELDS]


def run_executor(
    input_base: Path, pattern: str, output: Path, eval_fraction=0.2, max_bad_rows=0, splits=()
):
    examples = standard_artifacts.Examples()
    examples.uri = str(output)
    if splits:  # as EasyRecExampleGen configures predefined splits
        input_config, output_config = predefined_input_config(splits), example_gen_pb2.Output()
    else:
        input_config = utils.make_default_input_config(pattern)
        output_config = split_output_config(eval_fraction)
    exec_properties = {
        "input_base": str(input_base),
        "input_config": proto_utils.proto_to_json(input_config),
        "output_config": proto_utils.proto_to_json(output_config),
        "output_data_format": 6,  # FORMAT_TF_EXAMPLE
        "output_file_format": 5,  # FORMAT_TFRECORDS_GZIP
        "columns": json.dumps(COLUMNS),
        "separator": ",",
        "label_field": "clk",
        "max_bad_rows": max_bad_rows,
    }
    Executor().Do({}, {"examples": [examples]}, exec_properties)
    return examples


def read_split(examples, split: str) -> list[tf.train.Example]:
    uri = artifact_utils.get_split_uri([examples], split)
    files = tf.io.gfile.glob(f"{uri}/*.gz")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(r.numpy()) for r in records]


def as_row(example: tf.train.Example) -> tuple:
    """The example written back as CSV cells; a missing value (NULL or empty) is ''."""
    cells = []
    feature = example.features.feature
    for name, type_ in COLUMNS:
        if name not in feature:
            cells.append("")
        elif type_ == "int":
            cells.append(str(feature[name].int64_list.value[0]))
        else:
            cells.append(feature[name].bytes_list.value[0].decode())
    return tuple(cells)


def test_real_taobao_rows_come_through_exactly(taobao_sample, tmp_path):
    examples = run_executor(taobao_sample.parent, taobao_sample.name, tmp_path / "out")
    train, eval_ = read_split(examples, "train"), read_split(examples, "eval")
    assert len(train) + len(eval_) == 10_000
    assert 0.15 < len(eval_) / 10_000 < 0.25

    with taobao_sample.open(newline="") as handle:
        expected = sorted(
            tuple("" if c == "NULL" else c for c in row) for row in csv.reader(handle)
        )
    got = sorted(as_row(e) for e in train + eval_)
    assert got == expected
    # Spot-check the real data's features: NULL brands and empty tag lists are absent.
    assert sum(r[7] == "" for r in got) > 2000
    assert sum(r[17] == "" for r in got) > 3000


def test_gzipped_input_and_several_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    row = "1,0,p,a,c,cp,cu,NULL,u,1,2,1,3,,2,0,1,c1|c2,b1|b2,7"
    (data / "part-0.csv").write_text(row + "\n" + row.replace("1,0,p", "0,0,q", 1) + "\n")
    with gzip.open(data / "part-1.csv.gz", "wt") as handle:
        handle.write(row + "\n")
    examples = run_executor(data, "*", tmp_path / "out", eval_fraction=0.5)
    rows = read_split(examples, "train") + read_split(examples, "eval")
    assert len(rows) == 3
    assert sorted(r.features.feature["pid"].bytes_list.value[0] for r in rows) == [b"p", b"p", b"q"]


def test_predefined_splits_are_kept_as_they_are(tmp_path):
    """A folder of train/ and eval/ (rocket convert-taobao's time split): every row lands
    in the split of its folder; nothing is re-split by hash."""
    from pipeline import data_source

    data = tmp_path / "data"
    row = "1,0,p,a,c,cp,cu,NULL,u,1,2,1,3,,2,0,1,c1|c2,b1|b2,7"
    for split, count in (("train", 30), ("eval", 7)):
        (data / split).mkdir(parents=True)
        lines = [row.replace(",u,", f",{split}{i},") for i in range(count)]
        (data / split / "part-00000-of-00001.csv").write_text("\n".join(lines) + "\n")
    source = data_source.resolve(str(data), tmp_path, allow_splits=True)
    assert source.splits == (("train", "train/*.csv"), ("eval", "eval/*.csv"))
    assert len(source.files) == 2
    examples = run_executor(data, "", tmp_path / "out", splits=source.splits)
    for split, count in (("train", 30), ("eval", 7)):
        users = {
            e.features.feature["user_id"].bytes_list.value[0] for e in read_split(examples, split)
        }
        assert users == {f"{split}{i}".encode() for i in range(count)}
    # Without allow_splits (upload-data, bench) such a folder is no data file of its own.
    with pytest.raises(data_source.InputError, match="holds no data file"):
        data_source.resolve(str(data), tmp_path)
    (data / "eval" / "part-00000-of-00001.csv").unlink()
    with pytest.raises(data_source.InputError, match="the eval/ split holds no data file"):
        data_source.resolve(str(data), tmp_path, allow_splits=True)


def test_bad_row_stops_with_file_and_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    good = "0,0,p,a,c,cp,cu,NULL,u,1,2,1,3,,2,0,1,,,7"
    (data / "clicks.csv").write_text(f"{good}\n{good}\n0,0,p,a,c\n{good}\n")
    with pytest.raises(Exception, match=r"bad input row at .*clicks\.csv:3: expected 20 columns"):
        run_executor(data, "*", tmp_path / "out")


def write_with_bad_rows(tmp_path, bad_lines: list[str]) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    good = "0,0,p,a,c,cp,cu,NULL,u,1,2,1,3,,2,0,1,,,7"
    (data / "clicks.csv").write_text("\n".join([good, *bad_lines, good]) + "\n")
    return data


def test_tolerated_bad_rows_are_set_aside_with_file_line_reason_text(tmp_path):
    bad = ["0,0,p,a,c", "2" + "0,0,p,a,c,cp,cu,NULL,u,1,2,1,3,,2,0,1,,,7"[1:]]
    data = write_with_bad_rows(tmp_path, bad)
    examples = run_executor(data, "*", tmp_path / "out", max_bad_rows=2)
    assert len(read_split(examples, "train") + read_split(examples, "eval")) == 2
    rows = []
    for path in sorted((Path(examples.uri) / "bad_rows").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    rows.sort(key=lambda r: r["line"])
    assert [(Path(r["file"]).name, r["line"]) for r in rows] == [
        ("clicks.csv", 2),
        ("clicks.csv", 3),
    ]
    assert rows[0]["reason"] == "expected 20 columns, found 5" and rows[0]["text"] == bad[0]
    assert rows[1]["reason"] == "column 1 (clk): label 2 is not 0 or 1"


def test_one_bad_row_beyond_the_limit_fails_naming_it(tmp_path):
    data = write_with_bad_rows(tmp_path, ["0,0,p", "1,1"])
    with pytest.raises(
        Exception,
        match=r"bad input row at .*clicks\.csv:2: expected 20 columns, found 3 "
        r"\(2 bad rows, more than --max-bad-rows 1\)",
    ):
        run_executor(data, "*", tmp_path / "out", max_bad_rows=1)


def test_without_a_driver_the_executor_fingerprints_its_input_as_the_driver_would(tmp_path):
    """Open-source KFP never runs the file-based driver (a lifecycle hook): the executor
    computes span, version and fingerprint itself, with TFX's own input processor."""
    from tfx.components.example_gen import utils as example_gen_utils
    from tfx.utils import proto_utils

    from components.easyrec_example_gen.executor import with_driver_properties

    (tmp_path / "a.csv").write_text("1,x\n")
    config = example_gen_utils.make_default_input_config("*.csv")

    properties = {"input_base": str(tmp_path), "input_config": proto_utils.proto_to_json(config)}
    driven = with_driver_properties(properties)
    assert driven["span"] == 0 and driven["version"] is None
    assert driven["input_fingerprint"].startswith("split:single_split,num_files:1,total_bytes:4")
    (tmp_path / "b.csv").write_text("0,y\n")  # new data under the same folder: new fingerprint
    assert with_driver_properties(properties)["input_fingerprint"] != driven["input_fingerprint"]
    # With a driver's values, as they reach the step on Vertex (span a JSON number, no
    # version when none was found): the same values, as MLMD's ints.
    from_vertex = {**properties, "span": 0.0, "input_fingerprint": "f"}
    driven = with_driver_properties(from_vertex)
    assert driven == {**from_vertex, "span": 0, "version": None}
    assert isinstance(driven["span"], int)
