"""When each group or alert next needs the clock: a heap of due times, so a tick costs O(due), not O(all).

Whoever changes a group's or alert's state knows its next due time and sets it here; the clock
only pops what is due. Entries superseded by a later ``set`` are skipped lazily when popped. Equal
due times come out in the order their keys were first scheduled, a key keeping its place until it
is discarded, so a replay decides ties exactly as the run it replays.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

P = TypeVar("P")
R = TypeVar("R")
OnError = Callable[[str, Exception], None]
"""Told of a key whose turn with the clock raised: the key and the error (the others go on)."""


class DueIndex(Generic[P]):
    def __init__(self) -> None:
        self._due: dict[str, tuple[float, P]] = {}
        self._order: dict[str, int] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: str) -> bool:
        return key in self._due

    def set(self, key: str, due: float, payload: P) -> None:
        """Schedule ``key`` at ``due`` (replacing its earlier time), with a payload for the caller."""
        if self._due.get(key, (None,))[0] == due:
            return
        order = self._order.get(key)
        if order is None:
            order = self._order[key] = next(self._counter)
        self._due[key] = (due, payload)
        heapq.heappush(self._heap, (due, order, key))
        if len(self._heap) > 4 * len(self._due) + 1024:
            self._heap = [(d, self._order[k], k) for k, (d, _) in self._due.items()]
            heapq.heapify(self._heap)

    def discard(self, key: str) -> None:
        """Nothing is due for ``key`` any more; it loses its place among equal due times."""
        self._due.pop(key, None)
        self._order.pop(key, None)

    def clear(self) -> None:
        self._due.clear()
        self._order.clear()
        self._heap.clear()

    def peek(self) -> tuple[float, str] | None:
        """The earliest (due, key), without taking it."""
        while self._heap:
            due, _, key = self._heap[0]
            current = self._due.get(key)
            if current is not None and current[0] == due:
                return due, key
            heapq.heappop(self._heap)
        return None

    def pop(self, key: str) -> P:
        """Take ``key`` out as due; its caller sets it again or discards it."""
        return self._due.pop(key)[1]

    def is_due(self, now: float) -> bool:
        head = self.peek()
        return head is not None and head[0] <= now

    def pop_due(self, now: float, limit: int | None = None) -> list[tuple[str, P]]:
        """(key, payload) of every key due at ``now`` (at most ``limit``), earliest first; they leave
        the index until set again (or discarded, which every caller must do for a key it does not set
        again)."""
        out: list[tuple[str, P]] = []
        while (limit is None or len(out) < limit) and (head := self.peek()) is not None and head[0] <= now:
            out.append((head[1], self.pop(head[1])))
        return out

    def take_turns(
        self,
        now: float,
        act: Callable[[str], R | None],
        on_error: OnError | None = None,
        limit: int | None = None,
    ) -> list[R]:
        """``act`` on every key due at ``now``, earliest first; what it returns (None left out).

        ``on_error``: told of a key whose turn raised, and the others go on (None: it raises).
        ``limit``: at most this many turns; the rest stay due (``is_due``) for the caller's next step,
        so a worker whose clock finds thousands due does not hold its event loop for all of them.
        """
        out = []
        for key, _ in self.pop_due(now, limit):
            try:
                result = act(key)
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(key, exc)
                continue
            if result is not None:
                out.append(result)
        return out
