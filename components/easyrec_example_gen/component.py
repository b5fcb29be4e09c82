"""The EasyRecExampleGen component: FileBasedExampleGen's contract plus the column schema."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tfx import types
from tfx.components.example_gen import driver, utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration.data_types import RuntimeParameter
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.easyrec_example_gen import executor
from components.easyrec_example_gen.row_parser import DEFAULT_MAX_FIELD_BYTES, Column


class EasyRecExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        executor.COLUMNS_KEY: ExecutionParameter(type=str),  # JSON [[name, type], ...]
        executor.SEPARATOR_KEY: ExecutionParameter(type=str),
        executor.LABEL_FIELD_KEY: ExecutionParameter(type=str, optional=True),
        executor.MAX_BAD_ROWS_KEY: ExecutionParameter(type=int, optional=True),
        executor.MAX_FIELD_BYTES_KEY: ExecutionParameter(type=int, optional=True),
    }


def split_output_config(eval_fraction: float) -> example_gen_pb2.Output:
    """train/eval by hash of each example; `eval_fraction` is rounded to whole percent."""
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    eval_buckets = min(99, max(1, round(eval_fraction * 100)))
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=100 - eval_buckets),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_buckets),
            ]
        )
    )


def predefined_input_config(splits: Sequence[tuple[str, str]]) -> example_gen_pb2.Input:
    """One input split per (name, file pattern under input_base), kept as they are."""
    return example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name=name, pattern=pattern) for name, pattern in splits]
    )


class EasyRecExampleGen(FileBasedExampleGen):
    """Headerless EasyRec CSV files under `input_base` (matching `pattern`) -> tf.Examples.

    Columns and types come from the configuration; `NULL` and empty cells are missing; a
    cell longer than `max_field_bytes` (the configuration's input contract) is a bad row;
    splits are train/eval by hash, or given `splits` ((name, pattern), ...) read as they
    are (e.g. the time split of `rocket convert-taobao`). TFX's FileBasedDriver
    fingerprints the input files, so a rerun on unchanged data is served from the cache.

    A FileBasedExampleGen for TFX's compilers: the KFP v2 compiler gives it the file-based
    driver as a `pre_cache_check` lifecycle hook, which Vertex AI runs (its cache then sees
    the input files' fingerprint) and open-source KFP never calls; the executor computes
    the same span and fingerprint itself when no driver did (executor.py).
    """

    SPEC_CLASS = EasyRecExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = driver.FileBasedDriver

    def __init__(
        self,
        input_base: str | RuntimeParameter,  # a RuntimeParameter in compiled pipelines
        columns: Sequence[Column],
        pattern: str = "*",
        separator: str = ",",
        label_field: str | None = None,
        eval_fraction: float = 0.2,
        max_bad_rows: int = 0,
        splits: Sequence[tuple[str, str]] = (),
        max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    ):
        if splits:
            # An empty Output config keeps the input splits (TFX ExampleGen's contract).
            input_config = predefined_input_config(splits)
            output_config = example_gen_pb2.Output()
        else:
            input_config = utils.make_default_input_config(pattern)
            output_config = split_output_config(eval_fraction)
        spec = EasyRecExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            columns=json.dumps([[c.name, c.type] for c in columns]),
            separator=separator,
            label_field=label_field,
            max_bad_rows=max_bad_rows,
            max_field_bytes=max_field_bytes,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen.__init__ builds TFX's own spec, without our parameters.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
