"""ConfigSchemaGen: the data contract comes from the configuration, so drift can stop the
pipeline before Transform.

A schema inferred from each run's own data (SchemaGen) can never disagree with that data,
so it detects no drift. The contract here comes from the configuration instead (schema.py).
ExampleValidator checks the statistics against it, and AnomaliesGate
(components/anomalies_gate) fails the run with a readable list when it finds anything,
before Transform and the Trainer spend time on bad data.
"""
# No `from __future__ import annotations`: TFX reads the @component annotations as types.

import json
import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.config_schema_gen.schema import schema_from_columns


@component
def ConfigSchemaGen(  # noqa: N802 (TFX component naming)
    columns: Parameter[str],
    label_field: Parameter[str],
    schema: OutputArtifact[standard_artifacts.Schema],
) -> None:
    """`columns` is JSON [[name, type], ...], as EasyRecExampleGen takes it."""
    contract = schema_from_columns(json.loads(columns), label_field)
    io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), contract)
