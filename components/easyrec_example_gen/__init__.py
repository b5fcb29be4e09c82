"""ExampleGen for EasyRec CSVInput click logs (headerless, typed columns)."""

from components.easyrec_example_gen.component import EasyRecExampleGen
from components.easyrec_example_gen.row_parser import BadRowError, Column, RowParser

__all__ = ["BadRowError", "Column", "EasyRecExampleGen", "RowParser"]
