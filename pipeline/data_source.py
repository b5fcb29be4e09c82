"""Where a run's input comes from: a user's file or folder, or the embedded generator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import sample_data

DEFAULT_ROWS = 50_000


@dataclass(frozen=True)
class DataSource:
    root: str  # ExampleGen input_base
    pattern: str  # glob of the files under root
    files: tuple[str, ...]
    generated: bool = False
    # Predefined splits ((name, pattern under root), ...), as `rocket convert-taobao`
    # writes them (train/, eval/ by time); empty: ExampleGen splits by hash.
    splits: tuple[tuple[str, str], ...] = ()


class InputError(ValueError):
    """The input path cannot be used; the message names it."""


def _usable(path: Path) -> bool:
    return path.is_file() and not path.name.startswith((".", "_")) and path.suffix != ".md"


SPLIT_FOLDERS = ("train", "eval")


def _folder_files(path: Path, label: str) -> tuple[list[Path], str]:
    """A folder's data files and their glob: its *.csv and *.csv.gz files, or every file
    when it has none (then it must hold nothing else that '*' would read)."""
    plain = [p for p in path.glob("*.csv") if _usable(p)]
    gzipped = [p for p in path.glob("*.csv.gz") if _usable(p)]
    if plain or gzipped:
        pattern = "*.csv*" if plain and gzipped else ("*.csv" if plain else "*.csv.gz")
        return sorted(plain + gzipped), pattern
    files = sorted(p for p in path.iterdir() if _usable(p))
    if len(files) != len([p for p in path.iterdir() if p.is_file()]):
        raise InputError(
            f"--data {label}: the folder has no *.csv files and holds other files "
            "(docs, hidden files) that '*' would read; name the data files *.csv"
        )
    return files, "*"


def _predefined_splits(
    path: Path, label: str
) -> tuple[list[Path], tuple[tuple[str, str], ...]] | None:
    """A folder with no data file of its own but train/ and eval/ subfolders: their files,
    and the split patterns."""
    if any(_usable(p) for p in path.iterdir()):
        return None
    if not all((path / name).is_dir() for name in SPLIT_FOLDERS):
        return None
    files, splits = [], []
    for name in SPLIT_FOLDERS:
        found, pattern = _folder_files(path / name, f"{label}/{name}")
        if not found:
            raise InputError(f"--data {label}: the {name}/ split holds no data file")
        files += found
        splits.append((name, f"{name}/{pattern}"))
    return files, tuple(splits)


def resolve(
    data: str | None,
    output_dir: Path,
    rows: int = DEFAULT_ROWS,
    seed: int = 0,
    allow_splits: bool = False,
) -> DataSource:
    """A file is read alone. A folder: its *.csv / *.csv.gz files, or, when it has none,
    every file but hidden ones and docs (*.md); with `allow_splits`, a folder holding only train/
    and eval/ subfolders gives those predefined splits. No path: the generator writes
    `rows` rows once."""
    if data is None:
        target = output_dir / "data" / f"generated_{rows}_seed{seed}.csv"
        if not target.exists():
            print(f"[data] generating {rows} EasyRec-format rows (seed {seed}) -> {target}")
            partial = target.with_suffix(".partial")
            sample_data.write_sample(partial, rows, seed)
            partial.rename(target)
        return DataSource(str(target.parent), target.name, (str(target),), generated=True)

    path = Path(data).expanduser().resolve()
    if not path.exists():
        raise InputError(f"--data {data}: no such file or folder")
    splits: tuple[tuple[str, str], ...] = ()
    if path.is_file():
        files = [path]
        pattern = path.name
    else:
        predefined = _predefined_splits(path, data) if allow_splits else None
        if predefined is not None:
            files, splits = predefined
            pattern = ", ".join(p for _, p in splits)
        else:
            files, pattern = _folder_files(path, data)
        if not files:
            raise InputError(f"--data {data}: the folder holds no data file")
    for file in files:
        try:
            with file.open("rb") as handle:
                if not handle.read(1):
                    raise InputError(f"--data: {file} is empty")
        except PermissionError:
            raise InputError(f"--data: {file} is not readable") from None
    root = str(path if path.is_dir() else path.parent)
    return DataSource(root, pattern, tuple(str(f) for f in files), splits=splits)
