"""The only layer that knows Kafka and Faust: app, topics, agents, tables, CLI, metrics endpoint."""

import compiled

compiled.install()  # the Cython build of the per-event modules, where it matches their source
