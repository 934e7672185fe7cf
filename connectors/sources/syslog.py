"""Syslog (firewalls, IDS, WAF): RFC 5424 and RFC 3164 over UDP and TCP, CEF payloads parsed.

TCP frames by octet counting or by newline (RFC 6587), detected per message. A TCP sender is slowed by
not reading its socket while Kafka is away; UDP cannot be slowed, so datagrams beyond a bounded queue
are dropped and counted (``riskstream_connector_refused_total{why="queue_full"}``): use TCP where
losing a datagram matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from connectors.delivery import KafkaUnavailableError
from connectors.edge import meta
from connectors.formats.syslog import Framer
from connectors.sources.base import SourceSpec
from connectors.translate import Outcome, Refused
from rules.errors import EventDecodeError

if TYPE_CHECKING:
    from connectors.edge import Edge

log = logging.getLogger("riskstream.connector.syslog")


class SyslogSource(SourceSpec):
    type: Literal["syslog"]
    default_format: ClassVar[str] = "syslog"

    bind: str = Field(default="127.0.0.1", description="Address to listen on (0.0.0.0 exposes it)")
    port: int = Field(default=5514, ge=0, le=65535, description="UDP and TCP port (514 needs root)")
    transports: list[Literal["udp", "tcp"]] = Field(default=["udp", "tcp"], min_length=1)
    max_message_bytes: int = Field(default=64 * 1024, ge=480, description="Longer messages are dead "
                                   "letters")
    udp_queue: int = Field(default=10_000, ge=1, description="Datagrams waiting for Kafka before drops")
    batch: int = Field(default=500, ge=1, description="Messages delivered together")

    def describe(self) -> str:
        return f"syslog {'+'.join(self.transports)} {self.bind}:{self.port}"

    async def run(self, edge: Edge) -> None:
        if not await edge.kafka_ready():
            return
        loop = asyncio.get_running_loop()
        closers = []
        tasks = []
        if "tcp" in self.transports:
            server = await asyncio.start_server(lambda r, w: self._tcp(edge, r, w), self.bind, self.port,
                                                limit=self.max_message_bytes)
            closers.append(server.close)
        if "udp" in self.transports:
            queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(self.udp_queue)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(edge, queue), local_addr=(self.bind, self.port))
            closers.append(transport.close)
            tasks.append(asyncio.create_task(self._udp(edge, queue)))
        log.info("listening for %s", self.describe())
        try:
            await edge.stopping.wait()
        finally:
            for close in closers:
                close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, KafkaUnavailableError):
                    await task

    def _frame(self, edge: Edge, frame: bytes | EventDecodeError, origin: str) -> list[Outcome]:
        if isinstance(frame, EventDecodeError):
            return [Refused(b"", frame, origin)]
        if len(frame) > self.max_message_bytes:
            return [Refused(frame, EventDecodeError("too_large", f"message is {len(frame)} bytes, over "
                                                    f"the {self.max_message_bytes}-byte limit"), origin)]
        return edge.translator.translate(frame, meta(origin, peer=origin.split(":", 1)[1]))

    async def _tcp(self, edge: Edge, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        origin = f"tcp:{host}:{port}"
        framer = Framer(self.max_message_bytes)
        try:
            while not edge.stopping.is_set():
                data = await reader.read(64 * 1024)
                frames = framer.feed(data) if data else framer.close()
                outcomes = [o for f in frames for o in self._frame(edge, f, origin)]
                if outcomes:
                    await edge.deliver_patiently(outcomes, f"{len(outcomes)} syslog messages from {origin} "
                                                 "(not reading more)")
                if not data:
                    break
        except ConnectionError:
            log.info("syslog sender %s went away", origin)
        finally:
            writer.close()

    async def _udp(self, edge: Edge, queue: asyncio.Queue[tuple[bytes, str]]) -> None:
        while True:
            datagrams = [await queue.get()]
            while len(datagrams) < self.batch and not queue.empty():
                datagrams.append(queue.get_nowait())
            outcomes = [o for data, origin in datagrams for o in self._frame(edge, data.rstrip(b"\r\n\x00"),
                                                                             origin)]
            await edge.deliver_patiently(outcomes, f"{len(datagrams)} syslog datagrams")


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, edge: Edge, queue: asyncio.Queue[tuple[bytes, str]]):
        self.edge = edge
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        try:
            self.queue.put_nowait((data, f"udp:{addr[0]}:{addr[1]}"))
        except asyncio.QueueFull:
            self.edge.refuse("queue_full")
