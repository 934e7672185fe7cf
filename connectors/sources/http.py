"""HTTP push (camera and other platforms): POSTed alarm events, answered only once Kafka has them.

200: every record is on Kafka. 422: some records could not be mapped; they are on the dead-letter
topic (do not resend them), the rest were delivered. 400: the body is unreadable (also dead-lettered).
503 + Retry-After: Kafka is unreachable or the connector is at its limit of requests in progress; resend
later. 401: a token is required. 413: the body is over ``max_body_bytes``.
"""

from __future__ import annotations

import hmac
import logging
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from aiohttp import BodyPartReader, web
from pydantic import Field, model_validator

from connectors.delivery import KafkaUnavailableError
from connectors.edge import meta
from connectors.sources.base import SourceSpec
from connectors.translate import Refused

if TYPE_CHECKING:
    from connectors.edge import Edge

log = logging.getLogger("riskstream.connector.http")


class HttpSource(SourceSpec):
    type: Literal["http"]
    default_format: ClassVar[str] = "json"

    bind: str = Field(default="127.0.0.1", description="Address to listen on (0.0.0.0 exposes it)")
    port: int = Field(default=8088, ge=0, le=65535)
    path: str = Field(default="/events", pattern=r"^/", description="Where platforms POST events")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger requests get 413")
    max_pending_requests: int = Field(default=64, ge=1, description="More in progress at once get 503")
    retry_after: int = Field(default=5, ge=1, description="Seconds a 503 asks the sender to wait")
    token_env: str | None = Field(default=None, description="Environment variable holding a bearer token")
    token_file: Path | None = Field(default=None, description="File holding a bearer token")
    tls_cert_file: Path | None = Field(default=None, description="Serve HTTPS with this certificate")
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = Field(default=None, description="Require client certificates "
                                            "signed by this CA (mutual TLS)")

    @model_validator(mode="after")
    def _tls_pairs(self) -> HttpSource:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        return self

    def describe(self) -> str:
        scheme = "https" if self.tls_cert_file else "http"
        return f"{scheme}://{self.bind}:{self.port}{self.path}"

    def token(self) -> str | None:
        if self.token_env:
            value = os.environ.get(self.token_env)
            if not value:
                raise ValueError(f"token_env: the environment variable {self.token_env} is not set")
            return value
        if self.token_file:
            return self.token_file.read_text(encoding="utf-8").strip()
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        if self.tls_client_ca_file is not None:
            context.load_verify_locations(self.tls_client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def app(self, edge: Edge) -> web.Application:
        return _Endpoint(self, edge).app()

    async def run(self, edge: Edge) -> None:
        runner = web.AppRunner(self.app(edge), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.bind, self.port, ssl_context=self.ssl_context())
        await site.start()
        log.info("listening on %s", self.describe())
        try:
            await edge.stopping.wait()
        finally:
            await runner.cleanup()


class _Endpoint:
    def __init__(self, spec: HttpSource, edge: Edge):
        self.spec = spec
        self.edge = edge
        self.token = spec.token()
        self.in_progress = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.spec.max_body_bytes)
        app.router.add_post(self.spec.path, self.receive)
        app.router.add_get("/healthz", self.health)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        if self.edge.delivery.ready:
            return web.json_response({"kafka": "up"})
        return web.json_response({"kafka": "down"}, status=503)

    def _unavailable(self, why: str, message: str) -> web.Response:
        self.edge.refuse(why)
        return web.json_response({"error": message}, status=503,
                                 headers={"Retry-After": str(self.spec.retry_after)})

    async def receive(self, request: web.Request) -> web.Response:
        if self.token is not None and not self._authorised(request):
            self.edge.refuse("unauthorized")
            return web.json_response({"error": "a bearer token is required (Authorization: Bearer ...)"},
                                     status=401, headers={"WWW-Authenticate": 'Bearer realm="riskstream"'})
        if not self.edge.delivery.ready:
            return self._unavailable("kafka_unavailable", "Kafka is unreachable; retry later")
        if self.in_progress >= self.spec.max_pending_requests:
            return self._unavailable("busy", "too many requests in progress; retry later")
        self.in_progress += 1
        try:
            return await self._receive(request)
        finally:
            self.in_progress -= 1

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            payload = await self._body(request)
        except web.HTTPRequestEntityTooLarge:
            self.edge.refuse("too_large")
            return web.json_response({"error": f"body is over {self.spec.max_body_bytes} bytes"}, status=413)
        where = meta(f"http:{request.remote}{request.path}", peer=request.remote, path=request.path,
                     headers=dict(request.headers))
        try:
            outcomes = await self.edge.take(payload, where)
        except KafkaUnavailableError as exc:
            return self._unavailable("kafka_unavailable", f"{exc}; retry later")
        refused = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, Refused)]
        accepted = len(outcomes) - len(refused)
        if not refused:
            return web.json_response({"accepted": accepted})
        body = {"accepted": accepted, "dead_lettered": [
            {"index": i, "error": o.error.category, "reason": o.error.reason} for i, o in refused]}
        unreadable = any(o.whole_payload for _, o in refused)
        return web.json_response(body, status=400 if unreadable else 422)

    async def _body(self, request: web.Request) -> bytes:
        """The JSON of a plain body, or of the JSON part of a multipart one (pictures are skipped)."""
        if not request.content_type.startswith("multipart/"):
            return await request.read()
        reader = await request.multipart()
        first: bytes | None = None
        total = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            data = bytearray()
            while chunk := await part.read_chunk():
                total += len(chunk)
                if total > self.spec.max_body_bytes:
                    raise web.HTTPRequestEntityTooLarge(max_size=self.spec.max_body_bytes, actual_size=total)
                data += chunk
            kind = part.headers.get("Content-Type", "")
            if "json" in kind or (part.filename or "").endswith(".json"):
                return bytes(data)
            if first is None and not kind.startswith("image/"):
                first = bytes(data)
        return first or b""
