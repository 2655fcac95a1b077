"""`bench.pipeline`: the per-event cost of our code, and the floor it sets on this machine's cores."""

from __future__ import annotations

import doctest
import os
import re

import pytest

from bench import pipeline


def test_the_module_docstrings_examples_hold() -> None:
    assert doctest.testmod(pipeline).failed == 0


def test_the_floor_is_the_fastest_runs_cost_spread_over_every_core(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["pipeline", "--events", "400", "--envelope", "100", "--repeat", "2"])
    pipeline.main()
    printed = capsys.readouterr().out
    both = [float(cost) for cost in re.findall(r"^run \d: .* both +([\d.]+) =", printed, re.MULTILINE)]
    assert len(both) == 2
    assert all(cost > 0 for cost in both)
    floor = re.search(r"^floor: this machine's (\d+) core\(s\).* at most ([\d,]+) events/s", printed, re.MULTILINE)
    assert floor is not None
    cores, ceiling = int(floor.group(1)), int(floor.group(2).replace(",", ""))
    assert cores == len(os.sched_getaffinity(0))
    # The printed costs are rounded to a tenth of a µs; the ceiling comes from the fastest unrounded one.
    assert ceiling == pytest.approx(cores * 1e6 / min(both), rel=0.01)
