"""The MQTT connector against a real Mosquitto and a real Kafka broker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from connectors.iot_gateway import gateway_message
from tests.integration.connector_kit import running_connector, write_config
from tests.integration.harness import consume


def reading(n: int, device: str = "GAS-WH-0001") -> dict[str, object]:
    return {
        "event_id": f"it-mqtt-{n}", "family": "sensor", "kind": "combustible_gas", "source_id": device,
        "time": "2026-11-28T09:00:00+08:00", "value": 3.0 + n % 7, "unit": "%LEL",
        "location": {"city": "乌海市", "district": "海勃湾区", "grid": "HB-03-02"},
    }


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    """With Mosquitto's own client, QoS 1: it returns once the broker has acknowledged each message."""
    for topic, payload in messages:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
                        "-m", payload.decode()], check=True, timeout=30)


def publish_lines(port: int, topic: str, lines: list[bytes]) -> None:
    """Many messages over one connection: mosquitto_pub -l sends each stdin line as a message."""
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-l"],
                   input=b"\n".join(lines) + b"\n", check=True, timeout=120)


def config(tmp_path: Path, port: int, client_id: str) -> Path:
    return write_config(tmp_path, "mqtt-iot-sensors.yaml", port=port, client_id=client_id)


def test_messages_become_sensor_events_keyed_by_device(bootstrap: str, mosquitto: int,
                                                       tmp_path: Path) -> None:
    with running_connector("mqtt", config(tmp_path, mosquitto, "it-keyed"), bootstrap, tmp_path) as c:
        c.wait_until(lambda: "connected to MQTT" in c.log_tail(), "subscribed")
        publish(mosquitto, [gateway_message(reading(i, f"GAS-{i}")) for i in range(3)])
        got = consume(bootstrap, [f"{c.prefix}events.sensor"], lambda r: len(r) >= 3)
    assert sorted(r.key for r in got) == [b"GAS-0", b"GAS-1", b"GAS-2"]
    events = [orjson.loads(r.value) for r in got]
    assert {e["event_id"] for e in events} == {"it-mqtt-0", "it-mqtt-1", "it-mqtt-2"}
    assert all(e["kind"] == "combustible_gas" and e["unit"] == "%LEL" for e in events)


def test_unmappable_message_is_dead_lettered_with_its_bytes(bootstrap: str, mosquitto: int,
                                                            tmp_path: Path) -> None:
    with running_connector("mqtt", config(tmp_path, mosquitto, "it-dlq"), bootstrap, tmp_path) as c:
        c.wait_until(lambda: "connected to MQTT" in c.log_tail(), "subscribed")
        publish(mosquitto, [("iot/x/gas/GAS-9", b"reading=12"), gateway_message(reading(1))])
        dead = consume(bootstrap, [f"{c.prefix}riskstream.dlq"], lambda r: len(r) >= 1)
        events = consume(bootstrap, [f"{c.prefix}events.sensor"], lambda r: len(r) >= 1)
        c.wait_until(lambda: c.metric("riskstream_connector_dead_letters_total", reason="not_json") == 1,
                     "counting the dead letter")
    assert dead[0].value == b"reading=12"
    headers = dict(dead[0].headers)
    assert headers["riskstream.dlq.connector"] == b"iot-sensors"
    assert headers["riskstream.dlq.origin"] == b"mqtt:iot/x/gas/GAS-9"
    assert headers["riskstream.dlq.error"] == b"not_json"
    assert [orjson.loads(r.value)["event_id"] for r in events] == ["it-mqtt-1"]


def test_connector_killed_mid_stream_loses_no_message_the_broker_accepted(
        bootstrap: str, mosquitto: int, tmp_path: Path) -> None:
    """Messages are acknowledged to Mosquitto only after Kafka has them; the session outlives the
    process, so whatever was in flight at the SIGKILL is delivered again after the restart."""
    total = 3000
    lines = [gateway_message(reading(i, f"DEV-{i % 50}"))[1] for i in range(total)]
    path = config(tmp_path, mosquitto, "it-kill")
    with running_connector("mqtt", path, bootstrap, tmp_path) as c:
        c.wait_until(lambda: "connected to MQTT" in c.log_tail(), "subscribed")
        publisher = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mosquitto), "-q", "1",
                                      "-t", "iot/haibowan/combustible_gas/bulk", "-l"], stdin=subprocess.PIPE)
        assert publisher.stdin is not None
        publisher.stdin.write(b"\n".join(lines) + b"\n")
        publisher.stdin.close()
        c.wait_until(lambda: c.metric("riskstream_connector_produced_total") >= 300, "producing")
        c.stop(sig_kill=True)
        assert publisher.wait(timeout=120) == 0  # the broker accepted every message
        c.start()
        got = consume(bootstrap, [f"{c.prefix}events.sensor"],
                      lambda r: len({orjson.loads(x.value)["event_id"] for x in r}) >= total, timeout=120)
    ids = {orjson.loads(r.value)["event_id"] for r in got}
    assert ids == {f"it-mqtt-{i}" for i in range(total)}
