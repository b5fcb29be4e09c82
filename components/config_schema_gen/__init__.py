"""The data contract: a schema derived from the configuration, not inferred from the data."""

from components.config_schema_gen.component import ConfigSchemaGen
from components.config_schema_gen.schema import schema_from_columns

__all__ = ["ConfigSchemaGen", "schema_from_columns"]
