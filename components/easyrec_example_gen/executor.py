"""Beam executor: read EasyRec CSV files line by line into tf.Examples.

Each file is read whole by one worker (as TFX's own CsvExampleGen does) so that every
row keeps its 1-based line number: a bad row is reported as `file:line: column`, which a
splittable text source could not tell. Parallelism comes from having several files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs

from components.easyrec_example_gen.row_parser import Column, RowParser

COLUMNS_KEY = "columns"
SEPARATOR_KEY = "separator"
LABEL_FIELD_KEY = "label_field"


def parser_from_exec_properties(exec_properties: dict[str, Any]) -> RowParser:
    columns = [Column(name, type_) for name, type_ in json.loads(exec_properties[COLUMNS_KEY])]
    return RowParser(
        columns,
        separator=exec_properties.get(SEPARATOR_KEY) or ",",
        label_field=exec_properties.get(LABEL_FIELD_KEY) or None,
    )


class _ReadFileRows(beam.DoFn):
    """file path -> tf.Examples of its rows, in order, with exact line numbers on error."""

    def __init__(self, parser: RowParser):
        self._parser = parser
        self._rows = beam.metrics.Metrics.counter("easyrec_example_gen", "rows")

    def process(self, path: str) -> Iterator[tf.train.Example]:
        with beam.io.filesystems.FileSystems.open(
            path, compression_type=beam.io.filesystem.CompressionTypes.AUTO
        ) as handle:
            # readline, not iteration: Beam's CompressedFile (.gz, .bz2) is not iterable.
            for line_number, raw in enumerate(iter(handle.readline, b""), start=1):
                example = self._parser.parse(raw.rstrip(b"\r\n"), path, line_number)
                if example is not None:
                    self._rows.inc()
                    yield example


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _EasyRecCsvToExample(  # noqa: N802 (Beam's PTransform naming)
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    files = sorted(fileio.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no input file matches {pattern}")
    parser = parser_from_exec_properties(exec_properties)
    return (
        pipeline
        | "ListFiles" >> beam.Create(files)
        | "Reshuffle" >> beam.Reshuffle()
        | "ParseRows" >> beam.ParDo(_ReadFileRows(parser))
    )


class Executor(BaseExampleGenExecutor):
    """TFX ExampleGen executor for EasyRec CSVInput; splitting is TFX's hash partition."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX API)
        return _EasyRecCsvToExample
