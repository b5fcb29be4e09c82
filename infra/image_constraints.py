"""Print the pins of infra/constraints-py310.txt for packages this Python does NOT have.

The TFX image pins its own stack (kfp 2.5.0, protobuf 3.20.3, apache-beam 2.59.0, ...),
which differs from the project's venv. Constraining only the packages that are missing
keeps the image's versions and still installs the added ones at the tested versions.
Usage: python infra/image_constraints.py infra/constraints-py310.txt > missing.txt
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from importlib import metadata


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_names() -> set[str]:
    return {canonical(d.metadata["Name"]) for d in metadata.distributions() if d.metadata["Name"]}


def missing_pins(lines: Iterable[str], installed: set[str]) -> list[str]:
    """Pins (`name==version`) from constraint lines whose package is not installed."""
    pins = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==", line)
        if match and canonical(match.group(1)) not in installed:
            pins.append(line)
    return pins


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        print("\n".join(missing_pins(handle, installed_names())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
