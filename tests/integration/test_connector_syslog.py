"""The syslog connector, fed by util-linux `logger` and a socket client, against a real Kafka broker."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import orjson

from tests.integration.connector_kit import running_connector, wait_for_port, write_config
from tests.integration.harness import consume, free_port

PAN_THREAT = (
    "CEF:0|Palo Alto Networks|PAN-OS|10.2.4|vulnerability|THREAT|4|src=203.0.113.77 dst=10.20.5.30 "
    "spt=41822 dpt=80 proto=tcp act=reset-both cs1Label=Rule cs1=inbound-dmz "
    "cat=Apache HTTP Server Path Traversal Vulnerability(91783)"
)
FORTI_IPS = (
    "CEF:0|Fortinet|Fortigate|v7.2.8|16384|utm:ips signature dropped|5|src=198.51.100.45 "
    "dst=10.1.100.11 spt=38188 dpt=8080 proto=6 act=dropped dhost=portal.example.gov"
)
SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "samples" / "cef-samples.txt"


def config(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    return write_config(tmp_path, "syslog-cef.yaml", port=port), port


def logger(port: int, *flags: str, message: str) -> None:
    subprocess.run(["logger", "--server", "127.0.0.1", "--port", str(port), "--tag", "ids", *flags, message],
                   check=True, timeout=30)


def events(bootstrap: str, prefix: str, n: int) -> list[dict[str, Any]]:
    got = consume(bootstrap, [f"{prefix}events.cyber"], lambda r: len(r) >= n)
    return [orjson.loads(r.value) for r in got]


def test_cef_over_udp_in_rfc5424_becomes_a_cyber_event(bootstrap: str, tmp_path: Path) -> None:
    path, port = config(tmp_path)
    with running_connector("syslog", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        logger(port, "--udp", "--rfc5424", message=PAN_THREAT)
        [event] = events(bootstrap, c.prefix, 1)
    assert event["kind"] == "web_attack"
    assert (event["src_ip"], event["dst_ip"], event["dst_port"]) == ("203.0.113.77", "10.20.5.30", 80)
    assert event["signature"] == "THREAT"
    assert event["severity"] == 3
    assert event["attributes"] == {"device_vendor": "Palo Alto Networks", "device_product": "PAN-OS",
                                   "src_port": 41822, "action": "reset-both", "rule": "inbound-dmz"}


def test_cef_over_tcp_with_octet_counting_in_rfc3164(bootstrap: str, tmp_path: Path) -> None:
    path, port = config(tmp_path)
    with running_connector("syslog", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        logger(port, "--tcp", "--octet-count", "--rfc3164", message=FORTI_IPS)
        [event] = events(bootstrap, c.prefix, 1)
    assert (event["kind"], event["asset"], event["dst_port"]) == ("web_attack", "portal.example.gov", 8080)
    assert event["severity"] == 3


def test_vendor_lines_over_tcp_newline_framing_split_across_packets(bootstrap: str, tmp_path: Path) -> None:
    lines = [line for line in SAMPLES.read_bytes().splitlines() if line and not line.startswith(b"#")]
    stream = b"\n".join(lines) + b"\n"
    path, port = config(tmp_path)
    with running_connector("syslog", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for i in range(0, len(stream), 333):
                sock.sendall(stream[i:i + 333])
        got = events(bootstrap, c.prefix, 3)
        dead = consume(bootstrap, [f"{c.prefix}riskstream.dlq"], lambda r: len(r) >= 4)
    assert sorted(e["source_id"] for e in got) == ["FGT-A-LOG", "PA-3260", "web-02.example.internal"]
    assert all(dict(r.headers)["riskstream.dlq.error"] == b"unmapped_value" for r in dead)
    assert {r.value for r in dead} <= set(lines)


def test_a_line_that_is_not_syslog_is_dead_lettered_and_the_stream_goes_on(bootstrap: str,
                                                                           tmp_path: Path) -> None:
    path, port = config(tmp_path)
    with running_connector("syslog", path, bootstrap, tmp_path) as c:
        wait_for_port(port)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"hello from a misconfigured device\n<12>1 2026-01-05T09:00:07+08:00 fw1 - - - - "
                         + PAN_THREAT.encode() + b"\n")
        [event] = events(bootstrap, c.prefix, 1)
        [dead] = consume(bootstrap, [f"{c.prefix}riskstream.dlq"], lambda r: len(r) >= 1)
    assert event["source_id"] == "fw1"
    assert dead.value == b"hello from a misconfigured device"
    assert dict(dead.headers)["riskstream.dlq.error"] == b"not_syslog"
