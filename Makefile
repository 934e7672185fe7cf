# Two commands for a new user: `make demo` runs everything, `make test` checks everything.
.PHONY: demo test venv kafka kafka-stop worker lint typecheck rules-check unit integration bench

demo:            ## local Kafka + worker + simulator + live alert view (Ctrl-C stops)
	@bash scripts/demo.sh

test:            ## ruff, mypy, rule packs, unit and integration tests (starts its own Kafka)
	@bash scripts/test.sh

venv:
	@bash scripts/bootstrap.sh

kafka: venv      ## start (or reuse) the local broker on 127.0.0.1:$${KAFKA_PORT:-9092}
	@bash scripts/kafka-local.sh start

kafka-stop:
	@bash scripts/kafka-local.sh stop

lint: venv
	.venv/bin/ruff check .

typecheck: venv
	.venv/bin/mypy rules streams connectors bench

rules-check: venv
	.venv/bin/riskstream rules lint && .venv/bin/riskstream rules test

unit: venv
	.venv/bin/python -m pytest tests/unit -q

integration: venv
	.venv/bin/python -m pytest tests/integration -q

bench: venv      ## throughput and latency vs a raw aiokafka passthrough (see README)
	.venv/bin/riskstream-bench
