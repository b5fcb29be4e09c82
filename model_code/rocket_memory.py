"""The memory estimate of the embedding tables, printed by the Trainer before training:
rows x dim float32 weights plus the optimizer's slot copies (rocket_optimizers.slots),
so a too-large id space shows up before training rather than as an out-of-memory kill."""

from __future__ import annotations

from dataclasses import dataclass

from rocket_config import FeatureConfig

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class TableMemory:
    """One embedding table: rows x dim float32 weights, and the optimizer's `slots` copies
    of that shape (Adam's m and v: 2; rocket_optimizers.slots)."""

    feature: str
    rows: int
    dim: int
    slots: int = 2

    @property
    def weight_bytes(self) -> int:
        return self.rows * self.dim * FLOAT32_BYTES

    @property
    def slot_bytes(self) -> int:
        return self.slots * self.weight_bytes

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.slot_bytes


def embedding_memory(
    features: tuple[FeatureConfig, ...], table_sizes: dict[str, int], slots: int = 2
) -> list[TableMemory]:
    """Per feature, what its table and the optimizer's slots take, so a too-large id space
    shows up before training starts rather than as an out-of-memory kill."""
    return [TableMemory(f.name, table_sizes[f.name], f.embedding_dim, slots) for f in features]


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def format_embedding_memory(tables: list[TableMemory], slot_names: str = "Adam's m and v") -> str:
    """A table of the estimate, with what is and is not counted."""
    slots = tables[0].slots if tables else 0
    lines = [
        "estimated memory of the embedding tables, per worker (each worker holds a full "
        f"copy): rows x dim x 4 bytes (float32) + the optimizer's slots: {slot_names} "
        f"({slots}x the table); "
        "not counted: dense layers, TFT vocabulary lookup tables, per-batch gradients",
        f"  {'feature':<24}{'rows':>12}{'dim':>5}{'weights':>14}{'+ slots':>14}{'total':>14}",
    ]
    for t in tables:
        lines.append(
            f"  {t.feature:<24}{t.rows:>12,}{t.dim:>5}{_mib(t.weight_bytes):>14}"
            f"{_mib(t.slot_bytes):>14}{_mib(t.total_bytes):>14}"
        )
    weights = sum(t.weight_bytes for t in tables)
    slot_total = sum(t.slot_bytes for t in tables)
    rows = sum(t.rows for t in tables)
    lines.append(
        f"  {'total':<24}{rows:>12,}{'':>5}{_mib(weights):>14}{_mib(slot_total):>14}"
        f"{_mib(weights + slot_total):>14}"
    )
    return "\n".join(lines)
