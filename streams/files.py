"""Reading inputs from disk for `parse`, `replay` and `send`: files, folders (recursively), gzip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".gz", ".yaml", ".yml")


def input_files(paths: tuple[str, ...] | list[str]) -> Iterator[Path]:
    """Every readable input file under `paths`, folders walked recursively in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name.lower().endswith(SUFFIXES) and not child.name.startswith("."):
                    yield child
        else:
            yield path


def is_yaml(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith((".yaml", ".yml"))
