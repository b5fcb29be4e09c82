"""The data contract: a schema derived from the configuration, and a gate on anomalies."""

from components.data_contract.component import AnomaliesGate, ConfigSchemaGen, schema_from_columns

__all__ = ["AnomaliesGate", "ConfigSchemaGen", "schema_from_columns"]
