"""ExampleValidator's anomalies as readable lines, and the error that stops the run."""


class DataContractError(RuntimeError):
    """ExampleValidator found anomalies; the message lists them."""


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
