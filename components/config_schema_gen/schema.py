"""The data contract as a schema: every configured column with its type, each present value
single, the label always present and in {0, 1}, every column present in at least one row."""

from tensorflow_metadata.proto.v0 import schema_pb2

_TYPES = {"int": schema_pb2.INT, "float": schema_pb2.FLOAT, "string": schema_pb2.BYTES}


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
