"""`rocket convert-taobao` on small hand-made raw files with known answers: joins, tag
lists strictly before the impression (7 days, 50 most recent), price quantile buckets,
the time split, and rows the EasyRec row parser reads."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import rocket_seed

from components.easyrec_example_gen.row_parser import Column, RowParser
from pipeline import cli, taobao_convert, taobao_rows
from pipeline.taobao_rows import OUTPUT_COLUMNS, ConvertOptions, TaobaoInputError

T0 = 1_494_000_000  # 2017-05-05 16:00 UTC, the raw sample's first day
DAY = 86_400
WEEK = 7 * DAY

PROFILE_HEADER = (
    "userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,"
    "shopping_level,occupation,new_user_class_level \n"  # the real file's trailing space
)


def write(path: Path, lines: list[str], header: str, newline: str = "\n") -> str:
    path.write_text(header.rstrip("\n") + newline + newline.join(lines) + newline)
    return str(path)


def raw_files(folder: Path) -> dict[str, str]:
    """The hand-made scenario (ids are chosen so that each expectation is independent)."""
    folder.mkdir(parents=True, exist_ok=True)
    # 100 ads, prices 1..100 (columns in another order than the real file: found by name).
    ads = [
        f"a{i},{i}.0,c{i},camp{i},cust{i},{'NULL' if i == 2 else f'b{i}'}" for i in range(1, 101)
    ]
    impressions = [
        f"u1,{T0 + 1000},a1,430548_1007,0,1",  # tags from behaviour before T0+1000 only
        f"u1,{T0 + 2000},a2,430539_1007,1,0",  # NULL brand; sees the later behaviour
        f"u2,{T0 + 1000},a100,430548_1007,1,0",  # no profile
        f"u3,{T0 + 100},a51,430548_1007,1,0",  # 60 behaviours before: the last 50
        f"u4,{T0 + 500},a999,430548_1007,1,0",  # ad missing from ad_feature
        f"u2,{T0 + 2 * DAY},a3,430548_1007,1,0",  # last second of train
        f"u2,{T0 + 2 * DAY + 1},a4,430548_1007,1,0",  # first second of eval
        f"u1,{T0 + 3 * DAY},a5,430548_1007,0,1",  # the latest impression: eval
    ]
    behaviour = [
        f"u1,{T0 + 1000},pv,c_same,b_same",  # the impression's second: not for it
        f"u1,{T0 + 1500},cart,c_after,b_after",  # after imp 1, before imp 2
        f"u1,{T0 + 1000 - WEEK},pv,c_edge,NULL",  # exactly 7 days before imp 1: in
        f"u1,{T0 + 1000 - WEEK - 1},pv,c_old,b_old",  # 7 days and 1 s: out
        f"u1,{T0 + 999},fav,c_before,b_before",
        f"u1,{T0 + 4 * DAY},buy,c_future,b_future",  # after every impression
        f"u2,{T0 + 2 * DAY - 10},pv,c_u2,",  # missing brand: left out of the brand list
        *(f"u3,{T0 + 10 + i},pv,k{i},kb{i}" for i in range(60)),
        f"u9,{T0},pv,c_nobody,b_nobody",  # a user without impressions
    ]
    profiles = [
        "u1,5,2,2,2,,3,1,2",  # pvalue_level empty stays empty
        "u3,0,4,1,3,2,3,0,4",
        "u8,1,1,1,1,1,1,1,1",  # a user without impressions
    ]
    return {
        "raw_sample": write(
            folder / "raw_sample.csv", impressions, "user,time_stamp,adgroup_id,pid,nonclk,clk"
        ),
        # A BOM, as spreadsheet exports write it.
        "ad_feature": write(
            folder / "ad_feature.csv",
            ads,
            "\ufeffadgroup_id,price,cate_id,campaign_id,customer,brand",
        ),
        "user_profile": write(folder / "user_profile.csv", profiles, PROFILE_HEADER),
        # Windows line ends.
        "behavior_log": write(
            folder / "behavior_log.csv", behaviour, "user,time_stamp,btag,cate,brand", "\r\n"
        ),
    }


def read_split(output: Path, split: str) -> list[dict[str, str]]:
    rows = []
    for part in sorted((output / split).glob("part-*.csv")):
        for cells in csv.reader(part.read_text().splitlines()):
            assert len(cells) == 20, cells
            rows.append(dict(zip(OUTPUT_COLUMNS, cells)))
    return rows


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("taobao")
    files = raw_files(folder / "raw")
    output = folder / "converted"
    assert cli._main(convert_argv(files, output)) == cli.EXIT_OK
    return output, files


def by_ad(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["adgroup_id"]: row for row in rows}


def test_one_row_per_impression_split_by_time(converted):
    output, _ = converted
    train, evaluation = read_split(output, "train"), read_split(output, "eval")
    # Latest impression T0+3 days: eval holds time_stamp > T0+3d - 1 day, i.e. >= T0+2d+1.
    assert sorted(by_ad(train)) == ["a1", "a100", "a2", "a3", "a51", "a999"]
    assert sorted(by_ad(evaluation)) == ["a4", "a5"]
    assert [row["buy"] for row in train + evaluation] == ["0"] * 8
    assert by_ad(train)["a1"]["clk"] == "1" and by_ad(train)["a2"]["clk"] == "0"
    assert by_ad(train)["a1"]["pid"] == "430548_1007"


def test_tags_come_strictly_before_the_impression_within_seven_days(converted):
    rows = by_ad(read_split(converted[0], "train"))
    # imp 1 at T0+1000: same second, later, older than 7 days and future all excluded.
    assert rows["a1"]["tag_category_list"] == "c_before|c_edge"
    assert rows["a1"]["tag_brand_list"] == "b_before"  # c_edge's brand is NULL
    # imp 2 at T0+2000: now the behaviour at T0+1000 and T0+1500 is in the past; c_edge is
    # more than 7 days before it.
    assert rows["a2"]["tag_category_list"] == "c_after|c_same|c_before"
    assert rows["a2"]["tag_brand_list"] == "b_after|b_same|b_before"


def test_more_than_fifty_events_keep_the_fifty_most_recent(converted):
    rows = by_ad(read_split(converted[0], "train"))
    cates = rows["a51"]["tag_category_list"].split("|")
    assert cates == [f"k{i}" for i in range(59, 9, -1)]  # k59 (latest) .. k10
    assert rows["a51"]["tag_brand_list"].split("|") == [f"kb{i}" for i in range(59, 9, -1)]


def test_no_history_gives_empty_lists_and_missing_brands_are_left_out(converted):
    train = by_ad(read_split(converted[0], "train"))
    evaluation = by_ad(read_split(converted[0], "eval"))
    assert train["a100"]["tag_category_list"] == train["a100"]["tag_brand_list"] == ""
    assert train["a999"]["tag_category_list"] == ""  # u4 has no behaviour
    # u2's event at T0+2d-10 precedes the impressions at T0+2d and T0+2d+1.
    assert train["a3"]["tag_category_list"] == evaluation["a4"]["tag_category_list"] == "c_u2"
    assert train["a3"]["tag_brand_list"] == ""


def test_profiles_and_ads_are_joined_by_id(converted):
    rows = by_ad(read_split(converted[0], "train"))
    profile = [rows["a1"][name] for name in taobao_rows.PROFILE_FIELDS]
    assert profile == ["5", "2", "2", "2", "", "3", "1", "2"]
    assert rows["a1"]["user_id"] == "u1"
    # u2 has no profile: every profile field is empty.
    assert [rows["a100"][n] for n in taobao_rows.PROFILE_FIELDS] == [""] * 8
    assert rows["a51"]["new_user_class_level"] == "4"  # the header name with the space
    a1 = rows["a1"]
    assert (a1["cate_id"], a1["campaign_id"], a1["customer"], a1["brand"]) == (
        "c1",
        "camp1",
        "cust1",
        "b1",
    )
    assert rows["a2"]["brand"] == "NULL"  # NULL brands stay NULL
    missing = rows["a999"]
    assert [missing[n] for n in ("cate_id", "campaign_id", "customer", "brand", "price")] == [
        ""
    ] * 5


def test_price_is_bucketed_into_fifty_quantile_buckets(converted):
    rows = by_ad(read_split(converted[0], "train") + read_split(converted[0], "eval"))
    # Prices 1..100, one per ad: each bucket holds two prices (1-2 -> 0, ..., 99-100 -> 49).
    expected = {"a1": "0", "a2": "0", "a3": "1", "a4": "1", "a5": "2", "a51": "25", "a100": "49"}
    assert {ad: rows[ad]["price"] for ad in expected} == expected


def test_price_boundaries_and_buckets():
    boundaries = taobao_rows.price_boundaries([float(p) for p in range(100, 0, -1)])
    assert len(boundaries) == 49 and boundaries[0] == 3.0 and boundaries[-1] == 99.0
    buckets = [int(taobao_rows.price_bucket(float(p), boundaries)) for p in range(1, 101)]
    assert buckets == [i // 2 for i in range(100)]
    assert taobao_rows.price_bucket(0.5, boundaries) == "0"
    assert taobao_rows.price_bucket(1000.0, boundaries) == "49"
    assert taobao_rows.price_bucket(None, boundaries) == ""
    # Many equal prices share one bucket; all buckets stay within 0..49.
    tied = taobao_rows.price_boundaries([9.9] * 80 + [float(p) for p in range(20)])
    assert {taobao_rows.price_bucket(9.9, tied)} <= {str(b) for b in range(50)}
    assert len({taobao_rows.price_bucket(p, tied) for p in [9.9] * 80}) == 1


def test_history_days_and_max_tags_options(tmp_path):
    files = raw_files(tmp_path / "raw")
    output = tmp_path / "out"
    options = ConvertOptions(
        **files, output=str(output), history_days=1, max_tags=2, eval_start=T0 + 3 * DAY
    )
    result = taobao_convert.run(options)
    rows = by_ad(read_split(output, "train"))
    assert rows["a1"]["tag_category_list"] == "c_before"  # c_edge is 7 days old
    assert rows["a2"]["tag_category_list"] == "c_after|c_same"  # the 2 most recent
    assert rows["a51"]["tag_category_list"] == "k59|k58"
    # --eval-start: only the impression at T0+3d is eval.
    assert sorted(by_ad(read_split(output, "eval"))) == ["a5"]
    assert result.counts["train_rows"] == 7 and result.counts["eval_rows"] == 1
    assert result.counts["impressions_without_profile"] == 4  # u2 (3) and u4
    assert result.counts["impressions_without_ad"] == 1


def test_output_rows_go_through_the_easyrec_row_parser(converted):
    output, _ = converted
    columns = [Column(f.name, f.type) for f in rocket_seed.TAOBAO_INPUT_FIELDS]
    assert tuple(c.name for c in columns) == OUTPUT_COLUMNS
    parser = RowParser(columns, ",", label_field="clk")
    parsed = 0
    for part in sorted(output.glob("*/part-*.csv")):
        for number, line in enumerate(part.read_bytes().splitlines(), start=1):
            example = parser.parse(line, str(part), number)
            features = example.features.feature
            assert features["clk"].int64_list.value[0] in (0, 1)
            if "price" in features:
                assert 0 <= features["price"].int64_list.value[0] < 50
            parsed += 1
    assert parsed == 8


def test_converted_folder_is_what_rocket_run_reads(converted):
    from pipeline import data_source

    output, _ = converted
    source = data_source.resolve(str(output / "train"), output)
    assert source.pattern == "*.csv" and len(source.files) >= 1
    assert all(Path(f).name.startswith("part-") for f in source.files)


# --- errors -------------------------------------------------------------------------------


def convert_argv(files: dict[str, str], output: Path) -> list[str]:
    return [
        "convert-taobao",
        f"--raw-sample={files['raw_sample']}",
        f"--ad-feature={files['ad_feature']}",
        f"--user-profile={files['user_profile']}",
        f"--behavior-log={files['behavior_log']}",
        f"--output={output}",
    ]


def test_bad_rows_are_errors_naming_file_and_line(tmp_path, capsys):
    files = raw_files(tmp_path / "raw")
    path = Path(files["raw_sample"])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",1,0", ",1,2")  # clk 2 on line 3 (line 1 is the header)
    path.write_text("\n".join(lines) + "\n")
    assert cli._main(convert_argv(files, tmp_path / "out")) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"bad input row at {path}:3: column clk: '2' is not 0 or 1" in err


def test_bad_behaviour_time_and_duplicate_ads_name_the_lines(tmp_path):
    files = raw_files(tmp_path / "raw")
    log = Path(files["behavior_log"])
    log.write_text(log.read_text() + "u1,yesterday,pv,c1,b1\r\n")
    line = len(log.read_text().splitlines())
    with pytest.raises(Exception, match=rf"bad input row at {log}:{line}: column time_stamp"):
        taobao_convert.run(ConvertOptions(**files, output=str(tmp_path / "out1")))

    files = raw_files(tmp_path / "raw2")
    ads = Path(files["ad_feature"])
    ads.write_text(ads.read_text() + "a1,5.0,c1,camp1,cust1,b1\n")
    with pytest.raises(Exception, match=rf"bad input row at {ads}:102: adgroup_id a1 is already"):
        taobao_convert.run(ConvertOptions(**files, output=str(tmp_path / "out2")))


def test_missing_header_column_names_file_and_column(tmp_path, capsys):
    files = raw_files(tmp_path / "raw")
    profile = Path(files["user_profile"])
    profile.write_text(profile.read_text().replace("occupation,", "job,", 1))
    assert cli._main(convert_argv(files, tmp_path / "out")) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"bad input header at {profile}:1: no column occupation" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"raw_sample": "/no/such/raw_sample.csv"}, "--raw-sample /no/such/raw_sample.csv"),
        ({"max_tags": 0}, "--max-tags 0"),
        ({"history_days": -1.0}, "--history-days -1.0"),
    ],
)
def test_bad_options_are_refused_before_running(tmp_path, change, message):
    files = raw_files(tmp_path / "raw")
    options = ConvertOptions(**{**files, "output": str(tmp_path / "out"), **change})
    with pytest.raises(TaobaoInputError, match=message):
        taobao_convert.prepare(options)
    assert not (tmp_path / "out").exists()


def test_an_output_folder_with_parts_is_refused(converted, capsys):
    output, files = converted
    assert cli._main(convert_argv(files, output)) == cli.EXIT_USAGE
    assert "already holds files" in capsys.readouterr().err


def test_gzipped_inputs_are_read(tmp_path, capsys):
    """Before: `TypeError: 'CompressedFile' object is not iterable` on a .gz input."""
    import gzip

    files = raw_files(tmp_path / "raw")
    for option in ("behavior_log", "raw_sample"):
        plain = Path(files[option])
        zipped = plain.with_suffix(".csv.gz")
        zipped.write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
        files[option] = str(zipped)
    assert cli._main(convert_argv(files, tmp_path / "out")) == cli.EXIT_OK, capsys.readouterr()
    assert (
        len(read_split(tmp_path / "out", "train")) + len(read_split(tmp_path / "out", "eval")) == 8
    )


def test_an_output_that_is_a_file_is_refused_before_running(tmp_path, capsys):
    files = raw_files(tmp_path / "raw")
    output = tmp_path / "out.csv"
    output.write_text("keep me\n")
    assert cli._main(convert_argv(files, output)) == cli.EXIT_USAGE
    assert f"--output {output}: is a file; give a folder" in capsys.readouterr().err
    assert output.read_text() == "keep me\n"


def test_a_raw_sample_with_only_a_header_is_an_error(tmp_path, capsys):
    """Before: exit 0, 0 rows and no warning."""
    files = raw_files(tmp_path / "raw")
    Path(files["raw_sample"]).write_text("user,time_stamp,adgroup_id,pid,nonclk,clk\n")
    assert cli._main(convert_argv(files, tmp_path / "out")) == cli.EXIT_ERROR
    assert "no impression rows (only a header?)" in capsys.readouterr().err


def test_the_closing_hint_keeps_the_time_split(converted, capsys, tmp_path):
    files = raw_files(tmp_path / "raw")
    assert cli._main(convert_argv(files, tmp_path / "out")) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"train with: rocket run --data {tmp_path / 'out'}\n" in out  # not OUT/train
