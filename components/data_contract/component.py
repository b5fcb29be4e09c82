"""ConfigSchemaGen and AnomaliesGate: data drift stops the pipeline before Transform.

A schema inferred from each run's own data (SchemaGen) can never disagree with that data,
so it detects no drift. The contract here comes from the configuration instead: every
configured column with its type, each present value single, the label always present and
in {0, 1}, and every column present in at least one row. ExampleValidator checks the
statistics against it, and AnomaliesGate fails the run with a readable list when it finds
anything, before Transform and the Trainer spend time on bad data.
"""
# No `from __future__ import annotations`: TFX reads the @component annotations as types.

import json
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

_TYPES = {"int": schema_pb2.INT, "float": schema_pb2.FLOAT, "string": schema_pb2.BYTES}


class DataContractError(RuntimeError):
    """ExampleValidator found anomalies; the message lists them."""


def schema_from_columns(columns: list, label_field: str) -> schema_pb2.Schema:
    """The contract for [[name, type], ...] columns of an EasyRec CSV input."""
    schema = schema_pb2.Schema()
    for name, type_ in columns:
        feature = schema.feature.add(name=name, type=_TYPES[type_])
        feature.value_count.min = 1
        feature.value_count.max = 1
        if name == label_field:
            feature.presence.min_fraction = 1.0
            feature.int_domain.min = 0
            feature.int_domain.max = 1
        else:
            feature.presence.min_count = 1  # a column empty everywhere has disappeared
    return schema


@tfx.dsl.components.component
def ConfigSchemaGen(  # noqa: N802 (TFX component naming)
    columns: tfx.dsl.components.Parameter[str],
    label_field: tfx.dsl.components.Parameter[str],
    schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
) -> None:
    """`columns` is JSON [[name, type], ...], as EasyRecExampleGen takes it."""
    contract = schema_from_columns(json.loads(columns), label_field)
    io_utils.write_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), contract)


def describe(anomalies_by_split: dict) -> list:
    lines = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = "; ".join(r.description or r.short_description for r in info.reason)
            lines.append(f"split {split}, column {feature}: {reasons}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            reasons = "; ".join(r.description or r.short_description for r in info.reason)
            lines.append(f"split {split}, dataset: {reasons}")
    return lines


@tfx.dsl.components.component
def AnomaliesGate(  # noqa: N802 (TFX component naming)
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
) -> None:
    """Fail with the list of anomalies, if ExampleValidator found any."""
    found = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb")
        if not tf.io.gfile.exists(path):
            continue
        parsed = anomalies_pb2.Anomalies()
        parsed.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        if parsed.anomaly_info or parsed.HasField("dataset_anomaly_info"):
            found[split] = parsed
    if found:
        lines = describe(found)
        raise DataContractError(
            "the data breaks its schema (ExampleValidator): " + " | ".join(lines)
        )
