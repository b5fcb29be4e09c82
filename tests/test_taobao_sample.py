"""The real Taobao sample the package ships: the source's exact bytes, readable by the
pipeline's own parser, installed with the package."""

import hashlib

import rocket_seed

from components.easyrec_example_gen import Column, RowParser
from pipeline import data_source
from pipeline.settings import REAL_SAMPLE

SOURCE_SHA256 = "f045b1903401a608e1e34b719a41864de246011e5ad388626026696724e332e9"


def test_the_shipped_sample_is_the_sources_bytes(taobao_sample):
    assert hashlib.sha256(taobao_sample.read_bytes()).hexdigest() == SOURCE_SHA256
    assert (REAL_SAMPLE.parent / "README.md").read_text().count(SOURCE_SHA256) == 1


def test_every_row_parses_with_533_clicks(taobao_sample):
    parser = RowParser([Column(f.name, f.type) for f in rocket_seed.TAOBAO_INPUT_FIELDS])
    lines = taobao_sample.read_bytes().splitlines()
    examples = [parser.parse(line, str(taobao_sample), i) for i, line in enumerate(lines, 1)]
    assert len(examples) == 10_000
    assert sum(e.features.feature["clk"].int64_list.value[0] for e in examples) == 533


def test_rocket_run_data_reads_the_shipped_folder_without_its_readme(tmp_path):
    source = data_source.resolve(str(REAL_SAMPLE.parent), tmp_path)
    assert source.files == (str(REAL_SAMPLE),) and source.pattern == "*.csv.gz"
    # Plain and gzipped CSV side by side: both, under one glob.
    (tmp_path / "more.csv").write_text("x\n")
    (tmp_path / "old.csv.gz").write_bytes(REAL_SAMPLE.read_bytes())
    (tmp_path / "README.md").write_text("notes")
    both = data_source.resolve(str(tmp_path), tmp_path / "out")
    assert [f.rsplit("/", 1)[1] for f in both.files] == ["more.csv", "old.csv.gz"]
    assert both.pattern == "*.csv*"
