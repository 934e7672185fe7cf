"""`riskstream-bench`: how fast the worker drains a backlog and how soon an event becomes an alert.

Every pipeline number sits next to a raw aiokafka consume-to-produce loop on the same broker, so a
result reads as "the pipeline achieves X of what Kafka plus a Python client can do here" instead of
an absolute that mostly describes the machine. The worker runs exactly as deployed (`riskstream
worker` in its own process, its own app id and topic prefix) so the benchmark cannot flatter it.

Two numbers per scenario, measured differently on purpose:

* throughput: a backlog is written *before* the consumer starts, then the time to drain it is
  timed from the first processed event, so worker start-up and rebalancing are not counted;
* latency: a fixed offered rate below saturation, where queueing would otherwise dominate; probe
  events carry their send time and each fires a dedicated rule with a group of its own.

Where things live: runner (the scenarios, run_bench), workload and packs (what is generated),
broker (which Kafka), process, pipeline and passthrough (what is measured), throughput and
latency (how), report (the JSON), params (the run's inputs and result records). The command line
is bench.cli. It drives the runtime only from outside, like any other Kafka client.
"""
