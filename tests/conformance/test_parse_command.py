"""`opswarden parse` over the whole sample folder: every file read, events printed, no tracebacks."""

from __future__ import annotations

from collections import Counter

import orjson
from click.testing import CliRunner

from streams.cli import main
from tests.samples import require_samples

#: Events per source across every sample (Panther rule files are read through their `Tests[].Log`).
EXPECTED_EVENTS = {
    "cloudtrail": 419,
    "k8s": 16,
    "gcp": 44,
    "azure": 94,
    "aiops.action": 23,
    "alert": 7,
    "authorization": 1,
}


def test_parse_prints_every_sample_event_and_a_reason_for_every_rejection() -> None:
    result = CliRunner().invoke(main, ["parse", str(require_samples())], catch_exceptions=False)
    assert result.exit_code == 0
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    by_source = Counter(e.get("source") or e["kind"] for e in events)
    assert dict(by_source) == EXPECTED_EVENTS
    rejections = [orjson.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    reasons = Counter(r["reason"] for r in rejections)
    assert "processing_error" not in reasons
    assert all(r["detail"] and r["origin"] for r in rejections)
    assert sum(reasons.values()) == 387
    assert "Traceback" not in result.stderr
