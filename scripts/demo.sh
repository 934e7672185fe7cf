#!/usr/bin/env bash
# The main job on one machine: Kafka, a worker with the shipped packs, the simulator, and a live
# view of alerts on every agency topic. Ctrl-C stops the worker, the simulator and the broker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
mkdir -p .riskstream
bootstrap=$(bash scripts/kafka-local.sh start | tail -n 1 | cut -d= -f2)
export RISKSTREAM_KAFKA_BOOTSTRAP="$bootstrap"
port=${RISKSTREAM_WEB_PORT:-6066}
export RISKSTREAM_WEB_PORT="$port"

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "==> stopping simulator and worker"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${RISKSTREAM_KEEP_KAFKA:-0}" != 1 ]; then bash scripts/kafka-local.sh stop; fi
}
trap cleanup EXIT INT TERM

.venv/bin/riskstream rules lint
echo "==> worker (log: .riskstream/worker.log, metrics: http://127.0.0.1:$port/metrics)"
.venv/bin/riskstream worker > .riskstream/worker.log 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q riskstream_rules_loaded && break
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "the worker stopped; last lines of .riskstream/worker.log:" >&2
    tail -n 30 .riskstream/worker.log >&2
    exit 1
  fi
  sleep 1
done
echo "==> simulator: ${RISKSTREAM_DEMO_RATE:-20} events/s, an incident scenario every ${RISKSTREAM_DEMO_EVERY:-20}s"
echo "    (log: .riskstream/simulator.log, ground truth: .riskstream/ground-truth.jsonl)"
.venv/bin/riskstream simulate --rate "${RISKSTREAM_DEMO_RATE:-20}" --every "${RISKSTREAM_DEMO_EVERY:-20}" \
  > .riskstream/simulator.log 2>&1 &
pids+=($!)
echo "==> live alerts on every agency topic (Ctrl-C to stop everything)"
.venv/bin/riskstream tail --all
