"""Benchmarks, run by hand: `python -m bench.<name>`; figures go to the README, never into timed tests."""

import compiled

compiled.install()  # measure what a worker runs: the per-event modules' build, where it matches their source
