"""The board without a broker: its picture of the alerts, and what its HTTP side answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer

from rules.alerts import to_cloudevent
from rules.routing import load_routing
from streams.board.feed import Hub
from streams.board.server import Board
from streams.board.view import BoardView
from streams.settings import Settings
from tests.unit.test_alerts import make_alert


def notice(**kw: Any) -> Any:
    return to_cloudevent(make_alert(**kw))


def test_the_latest_notice_of_an_alert_is_what_the_board_shows() -> None:
    view = BoardView()
    view.apply(notice(notice_seq=1, status="firing"))
    view.apply(notice(notice_seq=2, status="acknowledged", acknowledged_by="王警官"))
    [shown] = view.alerts.values()
    assert (shown.status, shown.acknowledged_by) == ("acknowledged", "王警官")


def test_a_duplicate_or_older_notice_changes_nothing() -> None:
    view = BoardView()
    assert view.apply(notice(notice_seq=2)) is not None
    assert view.apply(notice(notice_seq=2)) is None
    assert view.apply(notice(notice_seq=1)) is None


def test_a_resolved_alert_leaves_the_board_after_a_while() -> None:
    view = BoardView(keep_resolved=timedelta(minutes=30))
    resolved = make_alert(status="resolved")
    view.apply(to_cloudevent(resolved))
    assert view.expire(resolved.raised_at + timedelta(minutes=29)) == []
    assert view.expire(resolved.raised_at + timedelta(minutes=31)) == [resolved.alert_id]
    assert view.alerts == {}


def test_a_card_carries_the_silence_an_officer_would_add() -> None:
    view = BoardView()
    view.apply(notice())
    [card] = view.snapshot()
    assert card["silence_matchers"] == {"rule": "gas", "location.grid": "G-07"}


@asynccontextmanager
async def board_client() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """A board with one alert on it, behind a token (built inside each test's own event loop)."""
    settings = Settings()
    view = BoardView()
    view.apply(notice())
    board = Board(settings, load_routing(settings.routing_path), view, Hub(), "s3cret", asyncio.Event())
    client = TestClient(TestServer(board.app()))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_the_page_and_its_script_are_served() -> None:
    async with board_client() as client:
        page = await client.get("/")
        script = await client.get("/static/board.js")
        assert page.status == 200 and "EventSource" in await script.text()
        assert "值班看板" in await page.text()


async def test_the_config_names_the_city_zone_and_the_agencies() -> None:
    async with board_client() as client:
        config = await (await client.get("/api/config")).json()
        assert config["zone"] == "Asia/Shanghai"
        assert config["agencies"]["fire"]
        assert config["login_required"] is True


async def test_the_stream_starts_with_a_snapshot() -> None:
    async with board_client() as client:
        response = await client.get("/api/stream")
        first = await response.content.readuntil(b"\n\n")
        response.close()
        event, data = first.decode().split("\n")[:2]
        assert event == "event: snapshot"
        assert len(orjson.loads(data.removeprefix("data: "))["alerts"]) == 1


async def test_acting_needs_the_token() -> None:
    async with board_client() as client:
        response = await client.post("/api/alerts/abc/ack", json={"by": "王警官"})
        assert response.status == 401


async def test_an_action_without_a_name_is_refused() -> None:
    async with board_client() as client:
        response = await client.post(
            "/api/alerts/abc/ack", json={"note": "x"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert response.status == 400
        assert "by" in (await response.json())["error"]


async def test_a_silence_needs_a_reason_and_a_readable_duration() -> None:
    async with board_client() as client:
        auth = {"Authorization": "Bearer s3cret"}
        no_reason = await client.post(
            "/api/silences", json={"by": "运维", "matchers": {"rule": "gas"}}, headers=auth
        )
        bad_duration = await client.post(
            "/api/silences",
            headers=auth,
            json={"by": "运维", "reason": "检修", "matchers": {"rule": "gas"}, "duration": "soon"},
        )
        assert (no_reason.status, bad_duration.status) == (400, 400)
