"""The gate on ExampleValidator's anomalies: drift against the data contract stops the run."""

from components.anomalies_gate.anomalies import DataContractError
from components.anomalies_gate.component import AnomaliesGate

__all__ = ["AnomaliesGate", "DataContractError"]
