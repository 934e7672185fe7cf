#!/usr/bin/env bash
# The whole check, as CI runs it: install, lint, type-check, rule packs, unit and integration tests.
# Integration tests bring their own Kafka (KAFKA_BOOTSTRAP_SERVERS, testcontainers, or scripts/kafka-local.sh)
# and their own Mosquitto (installed by scripts/install-peers.sh from Debian's packages).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/install-peers.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy (strict for rules/)"
.venv/bin/mypy rules streams connectors bench
echo "==> shipped rule packs"
.venv/bin/riskstream rules lint
.venv/bin/riskstream rules test
echo "==> pytest (unit + integration)"
.venv/bin/python -m pytest tests "$@"
