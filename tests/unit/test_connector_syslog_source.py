"""What the syslog source does with a datagram it has no room for: drop it, and count the drop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors import metrics
from connectors.config import load_connector
from connectors.edge import Edge
from connectors.sources.syslog import _Datagrams

CONFIG = Path(__file__).resolve().parents[2] / "connectors" / "configs" / "syslog-cef.yaml"


def test_udp_datagrams_beyond_the_queue_are_dropped_and_counted() -> None:
    edge = Edge(load_connector(CONFIG), delivery=None)  # type: ignore[arg-type]
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(maxsize=1)
    before = metrics.REFUSED.labels("syslog-cef", "queue_full")._value.get()
    protocol = _Datagrams(edge, queue)
    protocol.datagram_received(b"<14>first", ("192.0.2.1", 514))
    protocol.datagram_received(b"<14>second", ("192.0.2.1", 514))
    assert queue.get_nowait() == (b"<14>first", "udp:192.0.2.1:514")
    assert metrics.REFUSED.labels("syslog-cef", "queue_full")._value.get() == before + 1
