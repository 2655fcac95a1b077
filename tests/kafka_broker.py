"""Placeholder: the Kafka broker fixture is being written."""
