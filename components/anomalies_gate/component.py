"""AnomaliesGate: data drift stops the pipeline before Transform.

ExampleValidator checks the statistics against the configuration's schema
(components/config_schema_gen); this step fails the run with a readable list when it
found anything, before Transform and the Trainer spend time on bad data.
"""
# No `from __future__ import annotations`: TFX reads the @component annotations as types.

import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components.anomalies_gate.anomalies import DataContractError, describe


@component
def AnomaliesGate(  # noqa: N802 (TFX component naming)
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
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
