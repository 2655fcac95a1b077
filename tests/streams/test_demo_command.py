"""`opswarden demo`'s choice of a metrics port (the whole demo runs in `test_demo.py`)."""

from __future__ import annotations

import socket

from streams.demo_command import metrics_port_for
from streams.embedded_broker import free_port


def test_the_asked_port_is_kept_while_it_is_free() -> None:
    port = free_port()
    assert metrics_port_for(port) == port


def test_a_port_in_use_gives_way_to_a_free_one() -> None:
    """A second demo, or a worker already running here, holds the port: the demo's worker stopped at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        chosen = metrics_port_for(taken)
        assert chosen != taken
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", chosen))  # free: binding it raises nothing


def test_no_metrics_stays_no_metrics() -> None:
    assert metrics_port_for(0) == 0
