"""Beam executor: read EasyRec CSV files line by line into tf.Examples.

Each file is read whole by one worker (as TFX's own CsvExampleGen does) so that every
row keeps its 1-based line number: a bad row is reported as `file:line: column`, which a
splittable text source could not tell. Parallelism comes from having several files.

Strict by default: the first bad row fails the run. With `max_bad_rows` N > 0, up to N
bad rows are set aside as JSON lines (file, line, reason, text) in `bad_rows/` inside the
Examples artifact, and one more fails the run, naming a bad row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import driver, input_processor, utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.easyrec_example_gen.row_parser import (
    DEFAULT_MAX_FIELD_BYTES,
    BadRowError,
    Column,
    RowParser,
)

COLUMNS_KEY = "columns"
SEPARATOR_KEY = "separator"
LABEL_FIELD_KEY = "label_field"
MAX_BAD_ROWS_KEY = "max_bad_rows"
MAX_FIELD_BYTES_KEY = "max_field_bytes"
BAD_ROWS_DIR = "bad_rows"  # inside the Examples artifact
_BAD_ROWS_DIR_KEY = "_bad_rows_dir"  # set by Executor.Do for the PTransform
_BAD = "bad_rows"


def parser_from_exec_properties(exec_properties: dict[str, Any]) -> RowParser:
    columns = [Column(name, type_) for name, type_ in json.loads(exec_properties[COLUMNS_KEY])]
    return RowParser(
        columns,
        separator=exec_properties.get(SEPARATOR_KEY) or ",",
        label_field=exec_properties.get(LABEL_FIELD_KEY) or None,
        max_field_bytes=int(exec_properties.get(MAX_FIELD_BYTES_KEY) or DEFAULT_MAX_FIELD_BYTES),
    )


class _ReadFileRows(beam.DoFn):
    """file path -> tf.Examples of its rows, in order, with exact line numbers on error;
    bad rows raise, or go to the `_BAD` output when some are tolerated."""

    def __init__(self, parser: RowParser, tolerate_bad_rows: bool):
        self._parser = parser
        self._tolerate = tolerate_bad_rows
        self._rows = beam.metrics.Metrics.counter("easyrec_example_gen", "rows")

    def process(self, path: str) -> Iterator[tf.train.Example]:
        with beam.io.filesystems.FileSystems.open(
            path, compression_type=beam.io.filesystem.CompressionTypes.AUTO
        ) as handle:
            # readline, not iteration: Beam's CompressedFile (.gz, .bz2) is not iterable.
            for line_number, raw in enumerate(iter(handle.readline, b""), start=1):
                raw = raw.rstrip(b"\r\n")
                try:
                    example = self._parser.parse(raw, path, line_number)
                except BadRowError as error:
                    if not self._tolerate:
                        raise
                    yield beam.pvalue.TaggedOutput(
                        _BAD,
                        {
                            "file": path,
                            "line": line_number,
                            "reason": error.reason,
                            "text": raw.decode("utf-8", "backslashreplace"),
                        },
                    )
                    continue
                if example is not None:
                    self._rows.inc()
                    yield example


class _CountAndFirst(beam.CombineFn):
    """(number of bad rows, the first one by file and line)."""

    def create_accumulator(self):
        return 0, None

    def add_input(self, accumulator, row):
        count, first = accumulator
        key = (row["file"], row["line"], row["reason"])
        return count + 1, key if first is None or key < first else first

    def merge_accumulators(self, accumulators):
        count, first = 0, None
        for c, f in accumulators:
            count += c
            if f is not None and (first is None or f < first):
                first = f
        return count, first

    def extract_output(self, accumulator):
        return accumulator


def _check_limit(accumulator, limit: int) -> None:
    count, first = accumulator
    if count > limit:
        path, line, reason = first
        raise BadRowError(
            path, line, f"{reason} ({count} bad rows, more than --max-bad-rows {limit})"
        )


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
    limit = int(exec_properties.get(MAX_BAD_ROWS_KEY) or 0)
    parsed = (
        pipeline
        | "ListFiles" >> beam.Create(files)
        | "Reshuffle" >> beam.Reshuffle()
        | "ParseRows"
        >> beam.ParDo(_ReadFileRows(parser, tolerate_bad_rows=limit > 0)).with_outputs(
            _BAD, main="examples"
        )
    )
    if limit > 0:
        bad = parsed[_BAD]
        _ = (
            bad
            | "BadRowsAsJson" >> beam.Map(json.dumps)
            | "WriteBadRows"
            >> beam.io.WriteToText(
                os.path.join(exec_properties[_BAD_ROWS_DIR_KEY], "bad_rows"),
                file_name_suffix=".jsonl",
            )
        )
        _ = (
            bad
            | "CountBadRows" >> beam.CombineGlobally(_CountAndFirst())
            | "CheckBadRowLimit" >> beam.Map(_check_limit, limit)
        )
    return parsed["examples"]


def with_driver_properties(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """Span, version, fingerprint and resolved input_config as TFX's file-based driver
    sets them. Local runs and Vertex AI run the driver; open-source KFP never calls it (it
    ignores lifecycle hooks), so without this the Examples would carry no fingerprint."""
    if exec_properties.get(utils.FINGERPRINT_PROPERTY_NAME):
        # Vertex's driver leaves out a version it did not find, and its span and version
        # reach the step as JSON numbers (floats): MLMD wants ints.
        driven = {utils.VERSION_PROPERTY_NAME: None, **exec_properties}
        for key in (utils.SPAN_PROPERTY_NAME, utils.VERSION_PROPERTY_NAME):
            if isinstance(driven.get(key), float):
                driven[key] = int(driven[key])
        return driven
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
    )
    processor = input_processor.FileBasedInputProcessor(
        exec_properties[standard_component_specs.INPUT_BASE_KEY], input_config.splits, None
    )
    span, version = processor.resolve_span_and_version()
    for split in input_config.splits:
        split.pattern = processor.get_pattern_for_span_version(split.pattern, span, version)
    return {
        **exec_properties,
        utils.SPAN_PROPERTY_NAME: span,
        utils.VERSION_PROPERTY_NAME: version,
        utils.FINGERPRINT_PROPERTY_NAME: processor.get_input_fingerprint(span, version),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
    }


class Executor(BaseExampleGenExecutor):
    """TFX ExampleGen executor for EasyRec CSVInput; splitting is TFX's hash partition."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802 (TFX API)
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        exec_properties = with_driver_properties(exec_properties)
        # Recorded here too: on Vertex the driver's values reach the executor as properties,
        # and the artifact this step reports is the one that is kept.
        driver.update_output_artifact(exec_properties, examples.mlmd_artifact)
        exec_properties = {
            **exec_properties,
            _BAD_ROWS_DIR_KEY: os.path.join(examples.uri, BAD_ROWS_DIR),
        }
        super().Do(input_dict, output_dict, exec_properties)

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX API)
        return _EasyRecCsvToExample
