"""The HTTP push connector, driven by a real HTTP client, against a real Kafka broker."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme

from tests.integration.connector_kit import SAMPLES, Connector, running_connector, wait_for_port, write_config
from tests.integration.harness import consume, free_port, unique_prefix


def post(port: int, body: bytes, content_type: str = "application/json", token: str | None = None,
         path: str = "/hikvision/alarms") -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                     headers={"Content-Type": content_type})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def endpoint(tmp_path: Path, **source: Any) -> tuple[Path, int]:
    port = free_port()
    return write_config(tmp_path, "http-hikvision.yaml", port=port, **source), port


def alarm(code: str = "fielddetection") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / "hikvision-fielddetection.json").read_text())
    return {**data, "eventType": code, "uuid": str(uuid.uuid4())}


def test_a_pushed_alarm_is_on_the_camera_topic_when_the_answer_comes(bootstrap: str, tmp_path: Path) -> None:
    path, port = endpoint(tmp_path)
    with running_connector("http", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        status, _, body = post(port, (SAMPLES / "hikvision-crowd.json").read_bytes())
        got = consume(bootstrap, [f"{c.prefix}events.camera"], lambda r: len(r) >= 1)
    assert (status, body) == (200, {"accepted": 1})
    event = orjson.loads(got[0].value)
    assert got[0].key == b"44:19:b6:00:00:03/1"
    assert (event["kind"], event["people"]) == ("crowd_density", 46)


def test_a_batch_and_a_multipart_alarm_with_a_picture_are_accepted(bootstrap: str, tmp_path: Path) -> None:
    path, port = endpoint(tmp_path)
    boundary = "riskstreamboundary"
    multipart = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"linedetection\"\r\n"
        "Content-Type: application/json\r\n\r\n".encode()
        + (SAMPLES / "hikvision-linedetection.json").read_bytes()
        + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"linedetectionImage\"; "
        "filename=\"linedetectionImage.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        + b"\xff\xd8\xff\xe0fakejpeg\xff\xd9" + f"\r\n--{boundary}--\r\n".encode()
    )
    with running_connector("http", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        batch = post(port, (SAMPLES / "hikvision-batch.json").read_bytes())
        parts = post(port, multipart, f"multipart/form-data; boundary={boundary}")
        got = consume(bootstrap, [f"{c.prefix}events.camera"], lambda r: len(r) >= 4)
    assert batch[:1] == (200,) and batch[2] == {"accepted": 3}
    assert parts[:1] == (200,) and parts[2] == {"accepted": 1}
    assert sorted(orjson.loads(r.value)["kind"] for r in got) == [
        "camera_tamper", "intrusion", "line_crossing", "smoke_fire"]


def test_bad_input_is_answered_4xx_with_the_reason_and_dead_lettered(bootstrap: str, tmp_path: Path) -> None:
    path, port = endpoint(tmp_path)
    with running_connector("http", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        unreadable = post(port, b'{"eventType": "fielddetection", ')
        unknown = post(port, orjson.dumps([alarm("fielddetection"), alarm("VMD")]))
        dead = consume(bootstrap, [f"{c.prefix}riskstream.dlq"], lambda r: len(r) >= 2)
    assert unreadable[0] == 400 and unreadable[2]["dead_lettered"][0]["error"] == "not_json"
    assert unknown[0] == 422 and unknown[2]["accepted"] == 1
    assert unknown[2]["dead_lettered"][0]["index"] == 1
    assert "'VMD'" in unknown[2]["dead_lettered"][0]["reason"]
    assert sorted(dict(r.headers)["riskstream.dlq.error"] for r in dead) == [b"not_json", b"unmapped_value"]
    assert any(r.value == b'{"eventType": "fielddetection", ' for r in dead)


def test_a_token_is_required_when_configured(bootstrap: str, tmp_path: Path) -> None:
    path, port = endpoint(tmp_path, token_env="IT_HTTP_TOKEN")
    with running_connector("http", path, bootstrap, tmp_path, IT_HTTP_TOKEN="s3cret-token") as c:
        wait_for_port(port)
        missing = post(port, orjson.dumps(alarm()))
        wrong = post(port, orjson.dumps(alarm()), token="guess")
        right = post(port, orjson.dumps(alarm()), token="s3cret-token")
        c.wait_until(lambda: c.metric("riskstream_connector_refused_total", why="unauthorized") == 2,
                     "counting refusals")
    assert (missing[0], wrong[0], right[0]) == (401, 401, 200)
    assert missing[1]["WWW-Authenticate"].startswith("Bearer")


def test_a_body_over_the_limit_is_refused_413(bootstrap: str, tmp_path: Path) -> None:
    path, port = endpoint(tmp_path, max_body_bytes=4096)
    with running_connector("http", path, bootstrap, tmp_path):
        wait_for_port(port)
        status, _, _ = post(port, orjson.dumps({**alarm(), "pad": "x" * 5000}))
    assert status == 413


def test_kafka_unreachable_is_answered_503_with_retry_after(tmp_path: Path) -> None:
    path, port = endpoint(tmp_path, retry_after=7)
    nowhere = f"127.0.0.1:{free_port()}"
    connector = Connector("http", path, nowhere, unique_prefix("http-down"), tmp_path / "down.log")
    connector.start(wait_kafka=False)
    try:
        wait_for_port(port)
        status, headers, body = post(port, orjson.dumps(alarm()))
    finally:
        connector.stop()
    assert status == 503
    assert headers["Retry-After"] == "7"
    assert "Kafka" in body["error"]


def test_every_alarm_answered_200_survives_a_sigkill(bootstrap: str, tmp_path: Path) -> None:
    path, port = endpoint(tmp_path)
    answered: list[str] = []
    stop = threading.Event()

    def platform() -> None:
        while not stop.is_set():
            one = alarm()
            try:
                status, _, _ = post(port, orjson.dumps(one))
            except OSError:
                continue  # the connector is down: a platform retries later
            if status == 200:
                answered.append(one["uuid"])

    with running_connector("http", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        sender = threading.Thread(target=platform)
        sender.start()
        c.wait_until(lambda: len(answered) >= 50, "answering")
        c.stop(sig_kill=True)
        stop.set()
        sender.join(timeout=60)
        got = consume(bootstrap, [f"{c.prefix}events.camera"],
                      lambda r: {orjson.loads(x.value)["event_id"] for x in r} >= set(answered), timeout=60)
    assert set(answered) <= {orjson.loads(r.value)["event_id"] for r in got}


def test_mutual_tls_admits_only_platforms_with_a_certificate_from_the_ca(bootstrap: str,
                                                                        tmp_path: Path) -> None:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    platform = ca.issue_cert("nvr-01.example.gov")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    path, port = endpoint(tmp_path, tls_cert_file="server.pem", tls_key_file="server.pem",
                          tls_client_ca_file="ca.pem")
    url = f"https://127.0.0.1:{port}/hikvision/alarms"
    with running_connector("http", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        platform.configure_cert(trusted)
        request = urllib.request.Request(url, data=orjson.dumps(alarm()), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30, context=trusted) as response:
            status = response.status
        stranger = ssl.create_default_context()
        ca.configure_trust(stranger)
        with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            urllib.request.urlopen(request, timeout=30, context=stranger).read()
        got = consume(bootstrap, [f"{c.prefix}events.camera"], lambda r: len(r) >= 1, settle=1)
    assert status == 200
    assert len(got) == 1
