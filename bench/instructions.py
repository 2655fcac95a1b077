"""Instructions an event in each stream stage, counted by valgrind's callgrind (run by hand, not a test).

    python -m bench.instructions [--events 30000] [--envelope 100] [--top 25]

`bench.pipeline` times the stages in CPU seconds, which drift by a third or more over a day on a shared
machine; instruction counts do not: the same code and input give the same count at any hour, whatever else
the machine runs. This runs `bench.pipeline` under callgrind twice, side by side, each counting one stage
only (callgrind starts counting when a stage's entry point is called, and stops when it returns):

- the input stage: `Ingestor.ingest` (parse, route, encode repartition batches);
- the engine stage: decoding repartition messages, `PartitionedEngines.handle` (reorder, detectors) and
  `Publisher.outputs` (findings and ledger serialised for the producer).

The entry points are found by the names Cython gives them in the build (read with `nm`), so the compiled
build is needed (`make compile`).
State writes are left out: `PartitionedEngines.persist` runs on the wall clock, which callgrind slows about
fifty times, so it would run fifty times too often; in a worker it writes each changed key once every
`persist_every_s`. Both stages start from empty state, as in `bench.pipeline`: with the default grace and
lateness the first 12,000 events give no verdict, so use at least 30,000 for figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from compiled import BUILD_DIR

#: A stage's entry points: (compiled module, qualified name in it).
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "input": (("streams.processing", "Ingestor.ingest"),),
    "engine": (
        ("streams.routing", "decode_message"),
        ("streams.engines", "PartitionedEngines.handle"),
        ("streams.processing", "Publisher.outputs"),
    ),
}
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    stage: str
    instructions: int
    profile: Path

    def per_event(self, events: int) -> float:
        return self.instructions / events


def symbol(module: str, name: str) -> str:
    """Cython's C name for a Python-callable function: `__pyx_pw_`, then each part of its dotted name
    after a number (`__pyx_pw_7streams_7engines_18PartitionedEngines_9handle`)."""
    library = next(BUILD_DIR.joinpath("lib", *module.split(".")[:-1]).glob(f"{module.rsplit('.', 1)[-1]}.*.so"), None)
    if library is None:
        sys.exit(f"no build of {module}: run `make compile` first")
    pattern = re.compile("__pyx_pw_" + "_".join(rf"\d+{part}" for part in f"{module}.{name}".split(".")) + "$")
    symbols = subprocess.run(["nm", str(library)], capture_output=True, text=True, check=True).stdout.split()
    found = [s for s in symbols if pattern.match(s)]
    if len(found) != 1:
        sys.exit(f"expected one function {module}.{name} in {library}, found {found}")
    return found[0]


def callgrind(stage: str, args: argparse.Namespace, out: Path) -> subprocess.Popen[bytes]:
    toggles = [f"--toggle-collect={symbol(module, name)}" for module, name in STAGES[stage]]
    command = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", *toggles, f"--callgrind-out-file={out}",
        sys.executable, "-m", "bench.pipeline", "--events", str(args.events), "--envelope", str(args.envelope),
    ]  # fmt: skip
    # State writes left out (see the docstring); one hash seed, so that sets and dicts iterate alike in every run.
    env = os.environ | {"OPSWARDEN_PERSIST_EVERY_S": "1e9", "PYTHONHASHSEED": "0"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def instructions(profile: Path) -> int:
    found = TOTALS.search(profile.read_bytes())
    if found is None or int(found.group(1)) == 0:
        sys.exit(f"nothing counted in {profile}: is the build older than the source? (`make compile`)")
    return int(found.group(1))


def top_functions(profile: Path, count: int) -> str:
    """The stage's functions by inclusive instructions, as `callgrind_annotate` lists them."""
    listing = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", str(profile)], capture_output=True, text=True, check=True
    ).stdout
    rows = [line for line in listing.splitlines() if "__pyx_pw_" in line]
    return "\n".join(re.sub(r"\s*\[.*\]$", "", row) for row in rows[:count])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--envelope", type=int, default=100)
    parser.add_argument("--top", type=int, default=0, help="Also list each stage's top functions by instructions.")
    parser.add_argument("--stage", choices=sorted(STAGES), action="append", help="Only this stage (repeatable).")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="opswarden-instructions-"))
    runs = {stage: callgrind(stage, args, workdir / f"{stage}.callgrind") for stage in args.stage or STAGES}
    counts = []
    for stage, run in runs.items():
        _, errors = run.communicate()
        if run.returncode != 0:
            sys.exit(f"callgrind of the {stage} stage failed:\n{errors.decode(errors='replace')[-2000:]}")
        profile = workdir / f"{stage}.callgrind"
        counts.append(Count(stage, instructions(profile), profile))

    print(f"{args.events:,} events, {args.envelope} record(s)/message; instructions an event (callgrind)")
    for count in counts:
        print(f"  {count.stage + ' stage':13} {count.per_event(args.events):10,.0f}")
    if len(counts) > 1:
        print(f"  {'both':13} {sum(c.per_event(args.events) for c in counts):10,.0f}")
    for count in counts if args.top else ():
        print(f"\n{count.stage} stage, top functions (inclusive instructions), profile in {count.profile}:")
        print(top_functions(count.profile, args.top))


if __name__ == "__main__":
    main()
