"""Loaded by a test's worker through PYTHONPATH: the broker "refuses" the outputs of the worker's third state write.

`OutputProducer.delivered` raises DeliveryFailed, as it does when librdkafka reports messages it could not
deliver (a broker unreachable past `message.timeout.ms`, a topic deleted, a message over its size limit). Only
in the worker's own process, where the engines call it; its input-stage process has a test of its own.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from streams.outputs import DeliveryFailed, OutputProducer

REFUSED_CALL = int(os.environ.get("REFUSE_DELIVERY_CALL", "3"))
_delivered = OutputProducer.delivered
_calls = [0]


async def delivered(self: OutputProducer, *args: Any, **kwargs: Any) -> None:
    if multiprocessing.parent_process() is None:
        _calls[0] += 1
        if _calls[0] == REFUSED_CALL:
            raise DeliveryFailed("1 messages refused, first: injected by the test")
    await _delivered(self, *args, **kwargs)


OutputProducer.delivered = delivered  # type: ignore[method-assign]
