"""The configuration's schema catches drift that an inferred schema cannot."""

import rocket_seed
import tensorflow as tf
import tensorflow_data_validation as tfdv

from components.config_schema_gen import schema_from_columns
from components.easyrec_example_gen import Column, RowParser
from pipeline import sample_data

COLUMNS = [[f.name, f.type] for f in rocket_seed.TAOBAO_INPUT_FIELDS]


def statistics(lines: list[str], tmp_path):
    parser = RowParser([Column(n, t) for n, t in COLUMNS])
    examples = [parser.parse(line.encode(), "x", i) for i, line in enumerate(lines, 1)]
    path = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    return tfdv.generate_statistics_from_tfrecord(path)


def anomalous_columns(lines: list[str], tmp_path) -> set[str]:
    schema = schema_from_columns(COLUMNS, "clk")
    return set(tfdv.validate_statistics(statistics(lines, tmp_path), schema).anomaly_info)


def test_generated_data_meets_the_contract(tmp_path):
    assert anomalous_columns(sample_data.generate_rows(300, seed=1), tmp_path) == set()


def test_a_column_empty_everywhere_is_an_anomaly(tmp_path):
    rows = []
    for line in sample_data.generate_rows(300, seed=1):
        cells = line.split(",")
        cells[9] = ""  # cms_segid
        rows.append(",".join(cells))
    assert anomalous_columns(rows, tmp_path) == {"cms_segid"}
