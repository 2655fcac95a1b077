"""Where a live worker's CPU goes on the real stream, sampled by Linux perf (run by hand, not a test).

    python -m bench.worker_profile [--bootstrap HOST:PORT] [--envelope 100] [--seconds 10] [--process input]

`bench.instructions` counts our code without Kafka, and `bench.stream_throughput` gives a process's CPU an
event; this says what the CPU of one process is spent on while a worker drains a backlog from a real broker
(one it starts, as `bench.stream_throughput` does, unless `--bootstrap` names one): the events are produced
first, the worker started, and once its first verdicts are out `perf record` samples it (or its input-stage
process, `--process input`) with DWARF call stacks. The compiled modules keep their C symbols, so a sample
is charged to the innermost function of ours on its stack, or to the library ours called into (pydantic-core,
orjson, librdkafka, ...); what is neither is the interpreter running Python code (Faust, aiokafka, asyncio).
Each sample is also charged to the part of the worker it ran under (the engines, publishing, state writes).
Needs `perf` (Debian's `linux-perf`) and `kernel.perf_event_paranoid` at 2 or lower, and the compiled build.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.procfs import child_pids, cpu_seconds
from bench.stream_throughput import ENVELOPE, Run, broker_script, read_share

#: A sampled stack, innermost frame first: (C symbol, shared object or "(inlined)").
Stack = list[tuple[str, str]]
#: The parts of a worker, by the function of ours a sample ran under (the outermost one found wins).
PARTS = {
    "streams.engines.PartitionedEngines.handle": "engines: decode, reorder, detectors, state in memory",
    "streams.engines.PartitionedEngines.persist": "state writes",
    "streams.processing.Publisher.outputs": "findings and ledger entries produced",
    "streams.routing.decode_message": "repartition messages split into items",
    "streams.processing.Ingestor.ingest": "input stage: parse, route, encode",
}
#: Libraries a sample is charged to when ours called into them, by a piece of their shared object's name.
LIBRARIES = {
    "_pydantic_core": "pydantic-core",
    "orjson": "orjson",
    "librdkafka": "librdkafka",
    "confluent_kafka": "confluent-kafka",
    "aiokafka": "aiokafka (compiled)",
    "cramjam": "compression",
    "liblz4": "compression",
    "libz.": "compression",
}
OURS = ("models.", "detectors.", "streams.")
INTERPRETER = "the interpreter and the rest (Python code: Faust, aiokafka, asyncio)"
#: A frame line of `perf script -F comm,ip,sym,dso`: the address, the symbol, the object in parentheses.
FRAME = re.compile(r"^\s+[0-9a-f]+ (.+) \((.+)\)$")
LENGTH_PREFIXED = re.compile(r"(\d+)(.*)", re.DOTALL)


def python_name(symbol: str) -> str | None:
    """The dotted name of the Python function a Cython C symbol implements, or None for any other symbol.

    Cython names a function `__pyx_pw_` (its Python wrapper), `__pyx_pf_` (its body) or `__pyx_gb_` (a
    generator's body), then each part of the module and class path after its length, then the function's
    name after a counter (`6encode_item` is the counter 6 and `encode_item`: no number follows `encode_`).

    >>> python_name("__pyx_pw_9detectors_5judge_18AuthorizationJudge_31judge")
    'detectors.judge.AuthorizationJudge.judge'
    >>> python_name("__pyx_pf_6models_8timeutil_0_utc_text")
    'models.timeutil._utc_text'
    >>> python_name("PyObject_Vectorcall") is None
    True
    """
    found = re.match(r"__pyx_(?:pw|pf|gb)_(\d.*)", symbol)
    if found is None:
        return None
    parts, rest = [], found.group(1)
    while (prefixed := LENGTH_PREFIXED.match(rest)) is not None:
        length, body = int(prefixed.group(1)), prefixed.group(2)
        if length == 0 or body[length : length + 1] != "_" or not body[length + 1 : length + 2].isdigit():
            break  # the counter before the function's name: a part is followed by another number
        parts.append(body[:length])
        rest = body[length + 1 :]
    return ".".join([*parts, rest.lstrip("0123456789")])


def stacks(script: str) -> Iterator[tuple[str, Stack]]:
    """(thread name, stack) of each sample in `perf script -F comm,ip,sym,dso` output."""
    comm: str | None = None
    stack: Stack = []
    for line in script.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            if comm is not None:
                yield comm, stack
            comm, stack = line.strip(), []
        elif (frame := FRAME.match(line)) is not None:
            stack.append((frame.group(1), frame.group(2)))
    if comm is not None:
        yield comm, stack


def owner(stack: Stack) -> str:
    """The innermost function of ours on the stack, or the library it called into; else the interpreter."""
    for symbol, library in stack:
        if (name := python_name(symbol)) is not None and name.startswith(OURS):
            return name
        if (known := next((label for piece, label in LIBRARIES.items() if piece in library), None)) is not None:
            return known
    return INTERPRETER


def part(comm: str, stack: Stack) -> str:
    """The part of the worker a sample ran under: the outermost of `PARTS` on its stack."""
    for symbol, _ in reversed(stack):
        if (label := PARTS.get(python_name(symbol) or "")) is not None:
            return label
    return "librdkafka's threads" if comm.startswith("rdk:") else "the rest: Faust, aiokafka, the event loop"


@dataclass(frozen=True)
class Profile:
    by_part: Counter[str]
    by_owner: Counter[str]

    @property
    def samples(self) -> int:
        return sum(self.by_part.values())

    @classmethod
    def of(cls, script: str) -> Profile:
        by_part: Counter[str] = Counter()
        by_owner: Counter[str] = Counter()
        for comm, stack in stacks(script):
            by_part[part(comm, stack)] += 1
            by_owner[owner(stack)] += 1
        return cls(by_part, by_owner)

    def report(self, top: int) -> str:
        def rows(counts: Counter[str], limit: int | None) -> list[str]:
            return [f"  {100 * n / self.samples:5.1f}%  {label}" for label, n in counts.most_common(limit)]

        return "\n".join(
            ["by part of the process:", *rows(self.by_part, None),
             f"by function (the innermost of ours, or the library it called into), top {top}:",
             *rows(self.by_owner, top)]
        )  # fmt: skip


def record(pid: int, seconds: float, frequency: int, out: Path) -> float:
    """Sample `pid` for `seconds`; the CPU cores it used meanwhile."""
    before, started = cpu_seconds(pid), time.monotonic()
    perf = subprocess.run(
        ["perf", "record", "--quiet", "-F", str(frequency), "--call-graph", "dwarf,16384", "-o", str(out),
         "-p", str(pid), "--", "sleep", str(seconds)],
        capture_output=True, text=True,
    )  # fmt: skip
    if perf.returncode != 0:
        sys.exit(f"perf record failed (kernel.perf_event_paranoid must be 2 or lower):\n{perf.stderr[-2000:]}")
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def script(data: Path) -> str:
    return subprocess.run(
        ["perf", "script", "-F", "comm,ip,sym,dso", "-i", str(data)], capture_output=True, text=True, check=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="A running broker; else one is started and stopped.")
    parser.add_argument("--events", type=int, default=300_000, help="The backlog: enough to outlast the sampling.")
    parser.add_argument("--envelope", type=int, default=ENVELOPE, help="Records a message (1: single records).")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--frequency", type=int, default=199, help="Samples a second.")
    parser.add_argument("--process", choices=("worker", "input"), default="worker")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--reads", type=read_share, default=0.0, help="The share of events that are reads (0 to 0.99).")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("needs Linux perf (Debian: apt-get install linux-perf)")
    broker = None
    if args.bootstrap is None:
        kafka = broker_script()
        broker = kafka.start(die_with_parent=True, jvm_opts=kafka.SHIPPED_JVM_OPTS)
        args.bootstrap = broker.bootstrap
    workdir = Path(tempfile.mkdtemp(prefix="opswarden-profile-"))
    run = Run(args.bootstrap, workdir, "profile", args.reads)
    try:
        run.produce(args.events, args.envelope)
        run.start_workers(1)
        run.wait_for("ledger", 1, 120.0)
        time.sleep(3.0)  # past the first state writes
        worker = run.workers[0].pid
        pid = worker if args.process == "worker" else max(child_pids(worker), key=cpu_seconds)
        cores = record(pid, args.seconds, args.frequency, workdir / "perf.data")
        profile = Profile.of(script(workdir / "perf.data"))
    finally:
        run.stop()
        if broker is not None:
            broker_script().stop(broker)
    print(
        f"{args.process} (pid {pid}), {args.envelope} record(s)/message, {args.seconds:g} s at {args.frequency} Hz: "
        f"{profile.samples:,} samples, {cores:.2f} CPU cores (below ~0.9: the backlog ran out or the machine is "
        f"busy); profile in {workdir / 'perf.data'}"
    )
    print(profile.report(args.top))


if __name__ == "__main__":
    main()
