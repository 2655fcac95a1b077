"""Schemas and parsers: bytes in, pydantic objects out. No Kafka, no Faust, no clocks."""

import compiled

compiled.install()  # the Cython build of the per-event modules, where it matches their source
