"""CSV line -> tf.Example: types, missing values, and errors that name file, line, column."""

import pytest
import rocket_config
import rocket_seed

from components.easyrec_example_gen import BadRowError, Column, RowParser

COLUMNS = [Column(f.name, f.type) for f in rocket_seed.TAOBAO_INPUT_FIELDS]
GOOD = (
    "0,0,430548_1007,620392,6519,336811,252462,NULL,100002,5,2,2,2,,3,1,2,"
    "4281|4526,283837|367594,23"
)


@pytest.fixture
def parser():
    return RowParser(COLUMNS, label_field="clk")


def test_typed_values_and_missing_as_absent(parser):
    example = parser.parse(GOOD.encode(), "f.csv", 1)
    feature = example.features.feature
    assert feature["clk"].int64_list.value == [0]
    assert feature["price"].int64_list.value == [23]
    assert feature["user_id"].bytes_list.value == [b"100002"]
    assert feature["tag_category_list"].bytes_list.value == [b"4281|4526"]
    assert "brand" not in feature  # NULL
    assert "pvalue_level" not in feature  # empty
    assert len(feature) == 18


def test_blank_line_is_skipped(parser):
    assert parser.parse(b"", "f.csv", 7) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (GOOD.rsplit(",", 1)[0], "expected 20 columns, found 19"),
        (GOOD + ",x", "expected 20 columns, found 21"),
        ("x" + GOOD[1:], r"column 1 \(clk\): 'x' is not an integer"),
        ("2" + GOOD[1:], r"column 1 \(clk\): label 2 is not 0 or 1"),
        ("," + GOOD[2:], r"column 1 \(clk\): the label is missing"),
        (GOOD[:-2] + "2.5", r"column 20 \(price\): '2.5' is not an integer"),
        # Before: tf.train.Int64List raised "Value out of range" with no file, line or column.
        (
            GOOD[:-2] + "99999999999999999999",
            r"column 20 \(price\): '99999999999999999999' is out of the int64 range",
        ),
        (GOOD[:-2] + "9223372036854775808", r"column 20 \(price\): .* out of the int64 range"),
    ],
)
def test_bad_rows_name_file_line_and_column(parser, line, message):
    with pytest.raises(BadRowError, match=rf"bad input row at data/part-1\.csv:42: {message}"):
        parser.parse(line.encode(), "data/part-1.csv", 42)


def test_invalid_utf8_is_reported(parser):
    with pytest.raises(BadRowError, match=r"part\.csv:3: invalid UTF-8 at byte 2"):
        parser.parse(b"0,\xff,x", "part.csv", 3)


def test_int64_limits_themselves_are_values(parser):
    for value in ("9223372036854775807", "-9223372036854775808"):
        example = parser.parse((GOOD[:-2] + value).encode(), "f.csv", 1)
        assert example.features.feature["price"].int64_list.value == [int(value)]


def _with_tags(tags: str) -> bytes:
    cells = GOOD.split(",")
    cells[-3] = tags  # tag_category_list
    return ",".join(cells).encode()


def test_a_field_over_max_field_bytes_is_a_bad_row_naming_its_column():
    parser = RowParser(COLUMNS, label_field="clk", max_field_bytes=20)
    tags = "|".join(["4281"] * 4)  # 19 bytes: kept whole
    example = parser.parse(_with_tags(tags), "f.csv", 1)
    assert example.features.feature["tag_category_list"].bytes_list.value == [tags.encode()]
    with pytest.raises(BadRowError, match=r"f.csv:3: column 18 \(tag_category_list\): 24 bytes"):
        parser.parse(_with_tags("|".join(["4281"] * 5)), "f.csv", 3)
    # Bytes, not characters: 7 characters of 3 bytes each are over 20.
    with pytest.raises(BadRowError, match="21 bytes, more than max_field_bytes 20"):
        parser.parse(_with_tags("€" * 7), "f.csv", 4)


def test_the_default_limit_is_the_configurations_and_beyond_the_csv_readers_own():
    assert RowParser(COLUMNS).max_field_bytes == rocket_config.DEFAULT_MAX_FIELD_BYTES
    big = "|".join(["4281"] * 40_000)  # 199,999 bytes: over csv's own 131,072 limit
    example = RowParser(COLUMNS, max_field_bytes=200_000).parse(_with_tags(big), "f.csv", 1)
    assert len(example.features.feature["tag_category_list"].bytes_list.value[0]) == len(big)
    with pytest.raises(BadRowError, match="199999 bytes, more than max_field_bytes 131072"):
        RowParser(COLUMNS).parse(_with_tags(big), "f.csv", 1)
