"""One EasyRec CSV line -> one tf.train.Example, or an error naming file, line and column.

EasyRec's CSVInput has no header: the column order and types come from the
configuration. `NULL` and empty cells are missing values (the feature is written with no
value), never a default that could be mistaken for data. A row whose column count is
wrong is rejected rather than padded, so a value can never land in the wrong column.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import tensorflow as tf

NULL_VALUES = frozenset({"", "NULL"})
_INT = re.compile(r"-?[0-9]+")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # tf.train.Int64List's range
# The configuration's default (rocket_config.DEFAULT_MAX_FIELD_BYTES); components do not
# import the module file's code.
DEFAULT_MAX_FIELD_BYTES = 131_072
# Python's csv reader refuses fields over its own limit (131,072 characters) with a
# message that names no column; the parser's max_field_bytes is the one limit, so the
# reader's is lifted (it is process-wide; a line is already in memory when it is split).
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # "int", "float" or "string"


class BadRowError(ValueError):
    """A row of the input cannot be read as configured; the message says where and why."""

    def __init__(self, path: str, line_number: int, reason: str):
        self.path = path
        self.line_number = line_number
        self.reason = reason
        super().__init__(f"bad input row at {path}:{line_number}: {reason}")


class RowParser:
    """Parses lines of one file; `label_field` values must be 0 or 1."""

    def __init__(
        self,
        columns: list[Column],
        separator: str = ",",
        label_field: str | None = None,
        max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
    ):
        if not columns:
            raise ValueError("no input columns configured")
        if max_field_bytes < 1:
            raise ValueError(f"max_field_bytes must be 1 or more, got {max_field_bytes}")
        self.max_field_bytes = max_field_bytes
        if len(separator) != 1:
            raise ValueError(f"the column separator must be one character, got {separator!r}")
        self.columns = columns
        self.separator = separator
        self.label_field = label_field

    def split(self, text: str) -> list[str]:
        # csv handles quoted cells the way EasyRec's tf.io.decode_csv does.
        return next(csv.reader([text], delimiter=self.separator, strict=True), [])

    def parse(self, raw: bytes, path: str, line_number: int) -> tf.train.Example | None:
        """The Example for one raw line (without its newline); None for a blank line."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadRowError(path, line_number, f"invalid UTF-8 at byte {e.start}") from None
        if not text.strip():
            return None
        try:
            cells = self.split(text)
        except csv.Error as e:
            raise BadRowError(path, line_number, f"unreadable CSV ({e})") from None
        if len(cells) != len(self.columns):
            raise BadRowError(
                path,
                line_number,
                f"expected {len(self.columns)} columns, found {len(cells)}",
            )
        # Filled in place: building Feature messages and handing them to the Example's
        # constructor copies each one (a third of ExampleGen's parsing time).
        example = tf.train.Example()
        features = example.features.feature
        for index, (column, cell) in enumerate(zip(self.columns, cells), start=1):
            self._fill(features, column, cell, path, line_number, index)
        return example

    def _fill(
        self, features, column: Column, cell: str, path: str, line_number: int, index: int
    ) -> None:
        """The column's feature in `features` (the Example's map), checked; nothing for a
        missing value (an absent feature)."""
        where = f"column {index} ({column.name})"
        # A character is 1-4 UTF-8 bytes: encode only cells that could be over the limit.
        if len(cell) * 4 > self.max_field_bytes:
            size = len(cell.encode("utf-8"))
            if size > self.max_field_bytes:
                raise BadRowError(
                    path,
                    line_number,
                    f"{where}: {size} bytes, more than max_field_bytes {self.max_field_bytes}",
                )
        if cell in NULL_VALUES:
            if column.name == self.label_field:
                raise BadRowError(path, line_number, f"{where}: the label is missing")
            return
        if column.type == "int":
            if not _INT.fullmatch(cell):
                raise BadRowError(path, line_number, f"{where}: {cell[:40]!r} is not an integer")
            value = int(cell)
            if not INT64_MIN <= value <= INT64_MAX:
                raise BadRowError(
                    path, line_number, f"{where}: {cell[:40]!r} is out of the int64 range"
                )
            if column.name == self.label_field and value not in (0, 1):
                raise BadRowError(path, line_number, f"{where}: label {value} is not 0 or 1")
            features[column.name].int64_list.value.append(value)
            return
        if column.type == "float":
            try:
                number = float(cell)
            except ValueError:
                raise BadRowError(
                    path, line_number, f"{where}: {cell[:40]!r} is not a number"
                ) from None
            features[column.name].float_list.value.append(number)
            return
        features[column.name].bytes_list.value.append(cell.encode("utf-8"))
