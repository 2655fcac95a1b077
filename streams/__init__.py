"""The only layer that knows Kafka and Faust: app, topics, agents, tables, CLI, metrics endpoint."""
