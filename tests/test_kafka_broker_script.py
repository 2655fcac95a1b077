"""`scripts/kafka_broker.py`: the benchmarks' broker runs with the JVM options Kafka ships, not the tests'."""

from __future__ import annotations

from pathlib import Path

from tests.kafka_broker import _broker_script, _unavailable


def test_a_broker_started_with_the_shipped_jvm_options_runs_with_them_and_serves() -> None:
    """The tests' serial collector and 512 MB heap stopped a long benchmark session's broker for ~0.5 s at a time."""
    script = _broker_script()
    try:
        broker = script.start(die_with_parent=True, jvm_opts=script.SHIPPED_JVM_OPTS)
    except script.BrokerError as exc:
        _unavailable(str(exc))
    try:
        arguments = Path(f"/proc/{broker.pid}/cmdline").read_bytes().split(b"\0")
        assert {b"-XX:+UseG1GC", b"-Xmx1G"} <= set(arguments)
        assert not {b"-XX:+UseSerialGC", b"-XX:TieredStopAtLevel=1"} & set(arguments)
        assert script.probe(broker.bootstrap)
    finally:
        script.stop(broker)
