"""When each group next needs the clock: a heap of due times, so a tick costs O(due), not O(groups).

The window stage knows a group's next due time whenever it writes the group's state; the timer
only pops what is due. Entries superseded by a later write are skipped lazily when popped.
"""

from __future__ import annotations

import heapq


class DueIndex:
    def __init__(self) -> None:
        self._due: dict[str, tuple[float, str]] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: str, due: float, rule_id: str) -> None:
        if self._due.get(key, (None,))[0] == due:
            return
        self._due[key] = (due, rule_id)
        heapq.heappush(self._heap, (due, key))
        if len(self._heap) > 4 * len(self._due) + 1024:
            self._heap = [(d, k) for k, (d, _) in self._due.items()]
            heapq.heapify(self._heap)

    def discard(self, key: str) -> None:
        self._due.pop(key, None)

    def clear(self) -> None:
        self._due.clear()
        self._heap.clear()

    def pop_due(self, now: float) -> list[tuple[str, str]]:
        """(key, rule id) of every group due at ``now``; they leave the index until set again."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            current = self._due.get(key)
            if current is None or current[0] != due:
                continue
            del self._due[key]
            out.append((key, current[1]))
        return out
