"""Stage 2, windows: each stateful rule's groups, their event-time windows and the clock.

Hits arrive keyed by fingerprint (rule + group), so one group's events meet in one partition of
the window-state table; the table's changelog is what a restarted or surviving worker resumes
from. The decisions are rules.stateful's; this module only loads, stores and forwards.

The clock reaches groups through the same topic: a timer finds groups that are due (an absence
to fire, an idle group to forget) and sends them a Tick, which the agent handles like a hit, so
only the owner of a partition ever changes its state.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import orjson

from rules.due_index import DueIndex
from rules.errors import EventDecodeError
from rules.hits import WINDOW_MESSAGE, Hit, Tick
from rules.windows import GroupWindow
from streams import metrics
from streams.app import app, candidates_topic, hits_topic, rules, settings, window_state
from streams.dead_letters import dead_letter

log = logging.getLogger(__name__)
due: DueIndex[str] = DueIndex()
waiting: set[str] = set()
"""Groups held with nothing due: a fired absence waiting for its group to report again."""


def _remember(fingerprint: str, rule_id: str, state: GroupWindow) -> None:
    when = rules.stage.next_due(rule_id, state)
    if when is None:
        due.discard(fingerprint)
        waiting.add(fingerprint)
    else:
        waiting.discard(fingerprint)
        due.set(fingerprint, when, rule_id)


def _held() -> int:
    return len(due) + len(waiting)


async def window_one(raw: bytes) -> None:
    msg = WINDOW_MESSAGE.validate_json(raw)
    stored = window_state.get(msg.fingerprint)
    state = GroupWindow.from_json(stored["w"]) if stored else None
    if isinstance(msg, Hit):
        res = rules.stage.on_hit(state, msg, datetime.now(UTC))
        metrics.child(metrics.WINDOW_HITS, msg.rule_id, res.outcome).inc()
        if res.evicted:
            metrics.child(metrics.WINDOW_EVICTIONS, msg.rule_id).inc(res.evicted)
        changed = res.outcome == "counted"
    else:
        if state is None:
            return
        res = rules.stage.on_tick(state, msg)
        metrics.child(metrics.WINDOW_TICKS, res.outcome).inc()
        changed = res.outcome != "waiting"
    if res.candidate is not None:
        cand = res.candidate
        metrics.child(metrics.RULE_MATCHES, cand.rule_id, cand.risk.value, cand.tier.value).inc()
        await candidates_topic.send(
            key=cand.fingerprint.encode(), value=orjson.dumps(cand.model_dump(mode="json"))
        )
    if res.state is None:
        due.discard(msg.fingerprint)
        waiting.discard(msg.fingerprint)
        if stored is not None:
            del window_state[msg.fingerprint]
    else:
        if changed:
            window_state[msg.fingerprint] = {"rule": msg.rule_id, "w": res.state.to_json()}
        _remember(msg.fingerprint, msg.rule_id, res.state)
    metrics.WINDOW_GROUPS.set(_held())


@app.agent(hits_topic)
async def windows(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        try:
            await window_one(event.value)
        except Exception as exc:  # a bug must cost one message, not the stream
            log.exception(
                "window stage failed on %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            await dead_letter(
                event.message, "hit", EventDecodeError("processing_error", f"{type(exc).__name__}: {exc}")
            )


@window_state.on_recover
async def rebuild_due_index() -> None:
    """After a rebalance the partitions owned have changed: relearn when their groups are due."""
    due.clear()
    waiting.clear()
    for fingerprint, stored in window_state.items():
        _remember(fingerprint, stored["rule"], GroupWindow.from_json(stored["w"]))
    metrics.WINDOW_GROUPS.set(_held())
    log.info("window stage owns %d groups (%d silent, waiting to report)", _held(), len(waiting))


@app.timer(settings.tick_interval)  # type: ignore[untyped-decorator]
async def tick_due_groups() -> None:
    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    for fingerprint, rule_id in due.pop_due(now):
        tick = Tick(rule_id=rule_id, fingerprint=fingerprint, now=at)
        await hits_topic.send(key=fingerprint.encode(), value=WINDOW_MESSAGE.dump_json(tick))
