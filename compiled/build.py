"""Compile `compiled.MODULES` with Cython into `compiled/_build/` (incremental: only changed sources).

    python -m compiled.build [--force]

Needs the `compiled` extra (Cython, setuptools) and a C compiler. Pure-Python mode with `annotation_typing`
off: Cython compiles the source as it is and does not turn annotations into run-time type checks, so the
build behaves as the source does (the whole test suite runs against it, `make test`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from compiled import ABI_SUFFIX, BUILD_DIR, MANIFEST, MODULES, ROOT, read_manifest, source_hash, source_path

DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True}
#: gcc 12 reads Cython's comparisons with `Py_True` as out-of-bounds accesses of Python's headers: a false alarm.
COMPILE_ARGS = ["-Wno-array-bounds"]


def changed(force: bool) -> tuple[dict[str, str], list[str]]:
    """Every module's current source hash, and the modules to build: no build, a build of another source, or
    a build for another Python."""
    hashes = {name: source_hash(source_path(name)) for name in MODULES}
    previous = read_manifest(MANIFEST) if MANIFEST.is_file() and not force else {}
    stale = [
        name
        for name, digest in hashes.items()
        if name not in previous
        or previous[name].sha256 != digest
        or not previous[name].path.name.endswith(ABI_SUFFIX)
        or not previous[name].path.is_file()
    ]
    return hashes, stale


def write_manifest(paths: dict[str, str], hashes: dict[str, str]) -> None:
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    entries = {name: {"path": paths[name], "sha256": hashes[name]} for name in MODULES if name in paths}
    MANIFEST.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")


def build(modules: list[str]) -> dict[str, str]:
    """Each module's build, as a path relative to `BUILD_DIR`."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    extensions = [
        Extension(name, [str(source_path(name, Path()))], extra_compile_args=COMPILE_ARGS) for name in modules
    ]
    cwd = os.getcwd()
    os.chdir(ROOT)  # Cython names generated files by their path relative to here
    try:
        compiled = cythonize(  # type: ignore[no-untyped-call]
            extensions,
            build_dir=str(BUILD_DIR / "c"),
            compiler_directives=DIRECTIVES,
            nthreads=os.cpu_count() or 1,
            quiet=True,
            force=True,
        )
        distribution = Distribution({"name": "opswarden-compiled", "ext_modules": compiled})
        distribution.verbose = False
        command = distribution.get_command_obj("build_ext")
        command.build_lib = str(BUILD_DIR / "lib")
        command.build_temp = str(BUILD_DIR / "tmp")
        command.parallel = os.cpu_count() or 1
        command.force = True
        distribution.run_command("build_ext")
        return {ext.name: os.path.relpath(command.get_ext_fullpath(ext.name), BUILD_DIR) for ext in compiled}
    finally:
        os.chdir(cwd)
        for scratch in ("c", "tmp"):  # generated C and object files: regenerated for whatever changes next
            shutil.rmtree(BUILD_DIR / scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="Build every module again.")
    args = parser.parse_args()
    started = time.monotonic()
    hashes, stale = changed(args.force)
    if not stale:
        print(f"compiled: {len(MODULES)} modules up to date in {BUILD_DIR}")
        return
    if args.force:
        shutil.rmtree(BUILD_DIR, ignore_errors=True)
    kept = read_manifest(MANIFEST) if MANIFEST.is_file() else {}
    paths = {
        name: os.path.relpath(b.path, BUILD_DIR) for name, b in kept.items() if name in hashes and name not in stale
    }
    # Forget the builds about to be replaced first: a build that fails halfway may have overwritten some of them,
    # and the manifest must never pair a source's hash with a build of something else.
    write_manifest(paths, hashes)
    try:
        paths |= build(stale)
    except Exception as exc:  # no C compiler, no Cython, a module Cython refuses: the source runs instead
        print(
            f"compiled: build failed, the per-event modules run as Python: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        raise SystemExit(1) from exc
    write_manifest(paths, hashes)
    print(
        f"compiled: {len(stale)} of {len(MODULES)} modules built in {time.monotonic() - started:.0f} s", file=sys.stderr
    )


if __name__ == "__main__":
    main()
