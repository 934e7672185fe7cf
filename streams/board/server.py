"""The board's HTTP side: the page, a snapshot, a stream of changes (server-sent events) and actions.

Anyone who can reach the board may watch it; acting (acknowledge, resolve, silence) needs the
shared token when one is set (RISKSTREAM_BOARD_TOKEN or RISKSTREAM_BOARD_TOKEN_FILE). Actions go
through the same path as the CLI commands (streams/actions.py), so they are on the audit trail the
same way: the worker owning the alert sends the acknowledged or resolved notice naming who acted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from rules.durations import parse_duration
from rules.errors import AlertNotOpenError, DurationError, RiskstreamError
from rules.routing import Router
from rules.silences import Silence
from streams.actions import act_on_alert, add_silences
from streams.board.feed import Hub
from streams.board.view import BoardView
from streams.settings import Settings

log = logging.getLogger("riskstream.board")
STATIC = Path(__file__).resolve().parent / "static"
HEARTBEAT = 15.0
MAX_TEXT = 500


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


class Board:
    def __init__(
        self,
        settings: Settings,
        router: Router,
        view: BoardView,
        hub: Hub,
        token: str | None,
        caught_up: asyncio.Event,
    ):
        self.settings = settings
        self.router = router
        self.view = view
        self.hub = hub
        self.token = token
        self.caught_up = caught_up

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024, middlewares=[self._guard])
        app.router.add_get("/", self.page)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/config", self.config)
        app.router.add_get("/api/alerts", self.alerts)
        app.router.add_get("/api/stream", self.stream)
        app.router.add_post("/api/alerts/{alert_id}/{action:ack|resolve}", self.act)
        app.router.add_post("/api/silences", self.silence)
        app.router.add_get("/healthz", self.health)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST" and self.token is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return _json({"error": "sign in with the board's token to act on alerts"}, 401)
        response: web.StreamResponse = await handler(request)
        return response

    async def page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def config(self, _request: web.Request) -> web.Response:
        return _json(
            {
                "zone": self.settings.city_zone,
                "agencies": {a: spec.name for a, spec in self.router.agencies.items()},
                "login_required": self.token is not None,
            }
        )

    async def alerts(self, _request: web.Request) -> web.Response:
        return _json({"alerts": self.view.snapshot(), "caught_up": self.caught_up.is_set()})

    async def health(self, _request: web.Request) -> web.Response:
        return _json({"caught_up": self.caught_up.is_set(), "alerts": len(self.view.alerts)})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: a snapshot first, then each change; a comment line keeps proxies open."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue = self.hub.subscribe()
        try:
            await _event(response, "snapshot", {"alerts": self.view.snapshot()})
            while True:
                try:
                    event, data = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event == "reset":
                    break
                await _event(response, event, data)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.hub.unsubscribe(queue)
        return response

    async def act(self, request: web.Request) -> web.Response:
        body = await _body(request)
        by, note = _text(body.get("by")), _text(body.get("note")) or None
        if not by:
            return _json({"error": "say who you are (by)"}, 400)
        action = request.match_info["action"]
        alert_id = request.match_info["alert_id"]
        try:
            alert = await act_on_alert(self.settings, alert_id, action, by, note)  # type: ignore[arg-type]
        except AlertNotOpenError as exc:
            return _json({"error": str(exc)}, 409)
        except RiskstreamError as exc:
            return _json({"error": str(exc)}, 503)
        log.info("%s of %s by %s from %s (note: %s)", action, alert.alert_id, by, request.remote, note or "-")
        return _json({"sent": action, "alert_id": alert.alert_id}, 202)

    async def silence(self, request: web.Request) -> web.Response:
        body = await _body(request)
        by, reason = _text(body.get("by")), _text(body.get("reason"))
        matchers = body.get("matchers")
        try:
            if not by or not reason:
                raise ValueError("say who you are (by) and why (reason)")
            if not isinstance(matchers, dict) or not matchers:
                raise ValueError('matchers: which alerts to silence, e.g. {"rule": "gas-leak"}')
            seconds = parse_duration(_text(body.get("duration")) or "2h")
            now = datetime.now(UTC)
            silence = Silence(
                matchers={str(k): str(v) for k, v in matchers.items()},
                starts_at=now,
                ends_at=now + timedelta(seconds=seconds),
                author=by,
                reason=reason,
                created_at=now,
            )
        except (ValueError, DurationError, ValidationError) as exc:
            return _json({"error": str(exc)}, 400)
        try:
            await add_silences(self.settings, [silence])
        except RiskstreamError as exc:
            return _json({"error": str(exc)}, 503)
        log.info(
            "silence %s by %s from %s: %s for %ss (%s)",
            silence.id,
            by,
            request.remote,
            silence.matchers,
            seconds,
            reason,
        )
        return _json({"silence_id": silence.id, "ends_at": silence.ends_at.isoformat()}, 201)


async def _event(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")


async def _body(request: web.Request) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        data = orjson.loads(await request.read())
        if isinstance(data, dict):
            return data
    return {}


def _text(value: Any) -> str:
    return str(value).strip()[:MAX_TEXT] if value is not None else ""
