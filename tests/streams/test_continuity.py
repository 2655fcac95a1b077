"""Offset continuity on the engine topics: each message once, in order; holes reported, not hidden."""

from __future__ import annotations

import doctest

from models.config import OpswardenConfig
from streams import continuity, metrics
from streams.app import build_runtime, create_faust_app
from streams.continuity import KeptTopic, OffsetContinuity, Step
from streams.settings import Settings


def test_first_message_after_an_assignment_is_checked_against_the_committed_offset() -> None:
    offsets = OffsetContinuity()
    assert offsets.check("p0", 4, committed=7) == (Step.SKIP, 7)  # before the committed offset: done already
    assert offsets.check("p0", 7, committed=7) == (Step.PROCESS, 7)
    assert offsets.check("p0", 8, committed=7) == (Step.PROCESS, 8)


def test_messages_read_again_after_a_seek_are_skipped_until_new_ones_come() -> None:
    offsets = OffsetContinuity()
    for offset in range(10, 15):
        assert offsets.check("p0", offset, committed=10)[0] is Step.PROCESS
    assert [offsets.check("p0", offset, committed=10)[0] for offset in range(10, 15)] == [Step.SKIP] * 5
    assert offsets.check("p0", 15, committed=10) == (Step.PROCESS, 15)


def test_a_hole_is_reported_once_and_processing_goes_on() -> None:
    offsets = OffsetContinuity()
    assert offsets.check("p0", 3, committed=None) == (Step.PROCESS, 3)  # nothing committed yet: take any start
    assert offsets.check("p0", 9, committed=None) == (Step.GAP, 4)
    assert offsets.check("p0", 10, committed=None) == (Step.PROCESS, 10)


def test_partitions_are_independent_and_a_revoked_one_starts_again_from_its_committed_offset() -> None:
    offsets = OffsetContinuity()
    offsets.check("p0", 5, committed=5)
    offsets.check("p1", 50, committed=50)
    offsets.forget(["p0"])
    assert offsets.check("p0", 2, committed=2) == (Step.PROCESS, 2)  # another worker committed up to 2 since
    assert offsets.check("p1", 50, committed=50) == (Step.SKIP, 51)


def test_engine_topic_buffers_are_not_cleared_when_faust_resumes_flow() -> None:
    app = create_faust_app(Settings(bootstrap_servers="127.0.0.1:9", app_id="continuity-test"))
    kept = KeptTopic(app, topics=["engine"], key_type=bytes, value_type=bytes).clone(is_iterator=True)
    plain = app.topic("plain", key_type=bytes, value_type=bytes).clone(is_iterator=True)
    kept.queue.put_nowait(b"fetched during the seek")
    plain.queue.put_nowait(b"fetched during the seek")
    app.flow_control.suspend()
    app.flow_control.resume()  # what Faust's recovery does after seeking to the committed offsets
    assert kept.queue.qsize() == 1
    assert plain.queue.qsize() == 0  # what lost messages in the rebalance test


def test_docstring_example() -> None:
    assert doctest.testmod(continuity).failed == 0


def test_gap_series_start_at_zero_so_the_first_hole_alerts() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:9", app_id="continuity-gaps")
    runtime = build_runtime(settings, OpswardenConfig())
    for topic in runtime.engines:
        assert metrics.REGISTRY.get_sample_value("opswarden_repartition_gap_messages_total", {"topic": topic}) == 0
