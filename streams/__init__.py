"""The Kafka runtime: Faust app, topics, agents, metrics and the command line."""
