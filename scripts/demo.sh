#!/usr/bin/env bash
# The main job on one machine: Kafka, a worker with the shipped packs, the simulator, and a live
# view of alerts on every agency topic. Sensor readings take the real edge: the simulator publishes
# them to Mosquitto as an IoT gateway would, and the MQTT connector brings them into Kafka.
# The alert board serves the same alerts to a browser. Ctrl-C stops the worker, the connector, the
# simulator, the board, Mosquitto and the broker.
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
mqtt=()
mqtt_port=${RISKSTREAM_DEMO_MQTT_PORT:-1883}
if bash scripts/install-peers.sh; then
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n' "$mqtt_port" \
    > .riskstream/mosquitto.conf
  "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c .riskstream/mosquitto.conf > .riskstream/mosquitto.log 2>&1 &
  pids+=($!)
  sed "s/port: 1883/port: $mqtt_port/" connectors/configs/mqtt-iot-sensors.yaml > .riskstream/mqtt-iot-sensors.yaml
  echo "==> MQTT: Mosquitto on 127.0.0.1:$mqtt_port, connector iot-sensors into Kafka"
  echo "    (log: .riskstream/connector-mqtt.log, metrics: http://127.0.0.1:6068/metrics)"
  .venv/bin/riskstream connect mqtt .riskstream/mqtt-iot-sensors.yaml > .riskstream/connector-mqtt.log 2>&1 &
  pids+=($!)
  mqtt=(--mqtt "127.0.0.1:$mqtt_port")
  for _ in $(seq 1 60); do  # subscribed before the first reading, so none is published to nobody
    grep -q "connected to MQTT broker" .riskstream/connector-mqtt.log 2>/dev/null && break
    sleep 0.5
  done
else
  echo "==> (no Mosquitto: sensor readings go straight to Kafka; scripts/install-peers.sh installs it)"
fi
echo "==> simulator: ${RISKSTREAM_DEMO_RATE:-20} events/s, an incident scenario every ${RISKSTREAM_DEMO_EVERY:-20}s"
echo "    (log: .riskstream/simulator.log; ground truth, one JSON line per incident and the alerts it must"
echo "    raise: tail -f .riskstream/ground-truth.jsonl)"
.venv/bin/riskstream simulate --rate "${RISKSTREAM_DEMO_RATE:-20}" --every "${RISKSTREAM_DEMO_EVERY:-20}" \
  "${mqtt[@]}" > .riskstream/simulator.log 2>&1 &
pids+=($!)
board_port=${RISKSTREAM_BOARD_PORT:-6070}
.venv/bin/riskstream board --port "$board_port" > .riskstream/board.log 2>&1 &
pids+=($!)
echo "==> alert board for the duty desk: open http://127.0.0.1:$board_port/ in a browser"
echo "    (log: .riskstream/board.log; acknowledge, resolve and silence from the page)"
echo "==> live alerts on every agency topic (Ctrl-C to stop everything)"
.venv/bin/riskstream tail --all
