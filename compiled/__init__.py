"""Cython builds of the per-event path, loaded only where they match the source byte for byte.

`python -m compiled.build` (run by `make setup`, `make test` and `make run`) compiles the modules in `MODULES`
with Cython in pure-Python mode: the same source, annotations not enforced, Python's semantics kept. It writes
each module's build and the SHA-256 of the source it was built from to `compiled/_build/`. `install()`, called
by the entry points' packages (`streams`, `bench`, `tests`) before anything of `models` or `detectors` is
imported (those stay free of I/O), puts `CompiledFinder` first on `sys.meta_path`; the finder loads a module's build
only when the source the interpreter would load instead hashes the same. An edited module therefore runs as
Python until it is built again, never as stale machine code, and a checkout without a build runs as Python.

`OPSWARDEN_PURE_PYTHON=1` turns the finder off (to compare the two, or to debug with Python's tools).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec, PathFinder
from importlib.util import spec_from_file_location
from pathlib import Path
from types import ModuleType

#: What runs once per event or per record: parsers, detectors and their engine, and the stream stages around them.
MODULES: tuple[str, ...] = (
    *(f"detectors.{name}" for name in (
        "anomaly", "base", "context", "creep", "engine", "episode", "findings", "growth", "held", "judge", "loops",
        "memo", "rate", "redelivery", "suppression", "windows",
    )),
    *(f"models.parsers.{name}" for name in (
        "aiops", "alertmanager", "authorization", "azure", "base", "cloudtrail", "document", "gcp", "k8s",
        "pagerduty", "rundeck", "servicenow", "stackstorm",
    )),
    "models.classify", "models.patterns", "models.redact", "models.timeutil",
    "streams.engines", "streams.outputs", "streams.processing", "streams.routing", "streams.tables",
)  # fmt: skip

#: Where the packages live: the checkout, or site-packages for an installed copy.
ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = Path(__file__).resolve().parent / "_build"
MANIFEST = BUILD_DIR / "manifest.json"
DISABLE = "OPSWARDEN_PURE_PYTHON"
#: How this interpreter's own extensions end (`.cpython-311-x86_64-linux-gnu.so`): what a build for it is named.
ABI_SUFFIX = EXTENSION_SUFFIXES[0]


def source_path(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Built:
    """One module's build and the hash of the source it was built from."""

    path: Path
    sha256: str


@dataclass
class CompiledFinder(MetaPathFinder):
    """Finds a module's build when its source is unchanged since the build; otherwise defers to the path finder."""

    built: dict[str, Built]
    loaded: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        build = self.built.get(fullname)
        if build is None or not build.path.name.endswith(ABI_SUFFIX) or not build.path.is_file():
            return None  # not built, or built for another Python
        source = PathFinder.find_spec(fullname, path)
        if source is None or source.origin is None or not source.origin.endswith(".py"):
            return None
        if source_hash(Path(source.origin)) != build.sha256:
            self.stale.append(fullname)
            return None
        self.loaded.append(fullname)
        return spec_from_file_location(fullname, build.path, loader=ExtensionFileLoader(fullname, str(build.path)))


def read_manifest(manifest: Path = MANIFEST) -> dict[str, Built]:
    entries = json.loads(manifest.read_text())
    return {name: Built(manifest.parent / entry["path"], entry["sha256"]) for name, entry in entries.items()}


def turned_off() -> bool:
    """Whether `OPSWARDEN_PURE_PYTHON` asks for the source everywhere."""
    return os.environ.get(DISABLE, "") not in ("", "0")


def install(manifest: Path = MANIFEST) -> CompiledFinder | None:
    """Put the finder first on `sys.meta_path` (once), unless turned off or nothing is built."""
    found = finder()
    if found is not None or turned_off() or not manifest.is_file():
        return found
    created = CompiledFinder(read_manifest(manifest))
    sys.meta_path.insert(0, created)
    return created


def finder() -> CompiledFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, CompiledFinder)), None)


def compiled_count() -> int:
    """How many of `MODULES` loaded from their builds."""
    found = finder()
    return len(set(found.loaded) & set(MODULES)) if found is not None else 0


def mode() -> str:
    """`compiled` when every per-event module loaded from its build, `python` when none did, else `partly compiled`."""
    loaded = compiled_count()
    return "compiled" if loaded == len(MODULES) else "python" if loaded == 0 else "partly compiled"


def summary() -> str:
    """For the worker's start-up log: how much of the per-event path runs compiled."""
    found = finder()
    if found is None:
        return f"pure Python ({DISABLE} is set)" if turned_off() else "pure Python"
    text = f"{compiled_count()} of {len(MODULES)} per-event modules compiled"
    return text + (
        f"; source changed since the build, running as Python: {', '.join(found.stale)}" if found.stale else ""
    )
