"""Shared fixtures; the Kafka broker fixture lives in tests/kafka_broker.py."""

from __future__ import annotations

pytest_plugins = ["tests.kafka_broker"]
