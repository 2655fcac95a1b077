"""The only layer that knows Kafka and Faust: app, topics, agents, tables, CLI, metrics endpoint."""

import compiled

compiled.install()  # the entry points (the CLI, workers, input-stage processes) run the per-event modules' build
