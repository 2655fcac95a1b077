"""Schemas and parsers: bytes in, pydantic objects out. No Kafka, no Faust, no clocks."""
