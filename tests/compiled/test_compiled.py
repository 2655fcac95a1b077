"""The Cython build (`compiled`): loaded only where it matches the source, and behaving exactly as the source."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from importlib.machinery import ExtensionFileLoader
from pathlib import Path
from typing import Any

import pytest

import compiled
import compiled.build
from bench.instructions import STAGES, symbol
from compiled import DISABLE, CompiledFinder, install, read_manifest, source_hash
from tests.samples import PROJECT_ROOT, require_samples


def test_every_per_event_module_runs_from_its_build_unless_turned_off() -> None:
    """`make test` builds first, so here every module in `MODULES` must come from the build, or, with
    OPSWARDEN_PURE_PYTHON=1, from its source."""
    if not compiled.turned_off():
        assert compiled.MANIFEST.is_file(), "no build: run `make compile`"
    built = {} if compiled.turned_off() else read_manifest()
    for name in compiled.MODULES:
        loaded = Path(importlib.import_module(name).__file__ or "")
        assert loaded == (built[name].path if name in built else compiled.source_path(name)), name


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A package with one module, and a stand-in for that module's build."""
    root = tmp_path / "fakepkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "mod.py").write_text("VALUE = 1\n")
    (tmp_path / BUILD_NAME).write_bytes(b"not really a build")
    return root


#: A build's file name for this interpreter.
BUILD_NAME = "mod" + compiled.ABI_SUFFIX


def finder_for(package: Path, build_name: str = BUILD_NAME) -> CompiledFinder:
    build = package.parent / build_name
    return CompiledFinder({"fakepkg.mod": compiled.Built(build, source_hash(package / "mod.py"))})


def test_the_finder_gives_the_build_while_the_source_is_unchanged(package: Path) -> None:
    finder = finder_for(package)
    spec = finder.find_spec("fakepkg.mod", [str(package)])
    assert spec is not None
    assert isinstance(spec.loader, ExtensionFileLoader)
    assert spec.origin == str(package.parent / BUILD_NAME)
    assert finder.loaded == ["fakepkg.mod"]


def test_an_edited_module_runs_as_python_until_built_again(package: Path) -> None:
    finder = finder_for(package)
    (package / "mod.py").write_text("VALUE = 2\n")
    assert finder.find_spec("fakepkg.mod", [str(package)]) is None
    assert finder.stale == ["fakepkg.mod"]
    assert finder.loaded == []


def test_modules_not_built_built_for_another_python_or_whose_build_is_gone_are_left_to_the_path_finder(
    package: Path,
) -> None:
    finder = finder_for(package)
    assert finder.find_spec("fakepkg", None) is None
    other_python = "mod.cpython-399-x86_64-linux-gnu.so"
    (package.parent / other_python).write_bytes(b"built by another interpreter")
    assert finder_for(package, other_python).find_spec("fakepkg.mod", [str(package)]) is None
    (package.parent / BUILD_NAME).unlink()
    assert finder.find_spec("fakepkg.mod", [str(package)]) is None
    assert finder.loaded == []


def test_install_adds_one_finder_and_none_when_turned_off_or_unbuilt(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "manifest.json"
    entry = {"path": BUILD_NAME, "sha256": source_hash(package / "mod.py")}
    manifest.write_text(json.dumps({"fakepkg.mod": entry}))
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, CompiledFinder)])
    monkeypatch.setenv(DISABLE, "1")
    assert install(manifest) is None
    monkeypatch.delenv(DISABLE)
    assert install(tmp_path / "absent.json") is None
    first = install(manifest)
    assert first is not None
    assert sys.meta_path[0] is first
    assert first.built["fakepkg.mod"].path == tmp_path / BUILD_NAME
    assert install(manifest) is first
    assert sum(isinstance(f, CompiledFinder) for f in sys.meta_path) == 1


def parity_run(*, pure: bool) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != DISABLE} | ({DISABLE: "1"} if pure else {})
    done = subprocess.run(
        [sys.executable, "-m", "tests.compiled.parity_run", str(require_samples())],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_build_parses_and_judges_exactly_as_the_source() -> None:
    """Every sample parsed, the six-day evaluation scenario through the online detectors and the demo's story
    through every detector, by the build and by the source."""
    built, source = parity_run(pure=False), parity_run(pure=True)
    assert set(built.pop("modules").values()) == {".so"}
    assert set(source.pop("modules").values()) == {".py"}
    assert built == source
    online, story, ledger = built["counts"]
    assert online > 50
    assert story > 3
    assert ledger > 5


def test_the_build_redoes_modules_built_from_other_sources_or_for_another_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, edited, other_python, *rest = compiled.MODULES
    for name in (fresh, edited):
        (tmp_path / f"{name}{compiled.ABI_SUFFIX}").write_bytes(b"a build")
    (tmp_path / f"{other_python}.cpython-399-x86_64-linux-gnu.so").write_bytes(b"a build for another Python")
    entries = {
        fresh: {"path": f"{fresh}{compiled.ABI_SUFFIX}", "sha256": source_hash(compiled.source_path(fresh))},
        edited: {"path": f"{edited}{compiled.ABI_SUFFIX}", "sha256": "0" * 64},
        other_python: {
            "path": f"{other_python}.cpython-399-x86_64-linux-gnu.so",
            "sha256": source_hash(compiled.source_path(other_python)),
        },
    }
    (tmp_path / "manifest.json").write_text(json.dumps(entries))
    monkeypatch.setattr(compiled.build, "MANIFEST", tmp_path / "manifest.json")
    hashes, stale = compiled.build.changed(force=False)
    assert set(hashes) == set(compiled.MODULES)
    assert stale == [edited, other_python, *rest]
    assert compiled.build.changed(force=True)[1] == list(compiled.MODULES)


def test_mode_says_whether_every_some_or_none_of_the_per_event_modules_run_compiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finder = CompiledFinder({})
    monkeypatch.setattr(sys, "meta_path", [finder])
    assert compiled.mode() == "python"
    finder.loaded = ["fakepkg.mod", *compiled.MODULES[:3]]
    finder.stale = list(compiled.MODULES[3:])
    assert compiled.mode() == "partly compiled"
    assert compiled.summary().startswith(f"3 of {len(compiled.MODULES)} per-event modules compiled; source changed")
    finder.loaded = list(compiled.MODULES)
    assert compiled.mode() == "compiled"
    monkeypatch.setattr(sys, "meta_path", [])
    assert compiled.mode() == "python"


def test_the_instruction_benchmark_finds_each_stage_entry_point_in_the_build() -> None:
    """`bench.instructions` counts from these functions' C names: a rename must fail here, not leave it
    counting nothing."""
    for module, name in (entry for entries in STAGES.values() for entry in entries):
        assert re.fullmatch(rf"__pyx_pw_\w+_\d+{name.rsplit('.', 1)[-1]}", symbol(module, name))
    with pytest.raises(SystemExit, match="expected one function"):
        symbol("streams.engines", "PartitionedEngines.no_such_method")
