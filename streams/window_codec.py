"""How window state is written to its table: the group's partition, its rule and its window."""

from __future__ import annotations

import orjson

from rules.window_book import Held
from rules.windows import GroupWindow
from streams.tables import Codec


def _encode(partition: int, held: Held) -> bytes:
    rule_id, window = held
    return orjson.dumps({"p": partition, "rule": rule_id, "w": window.to_json()})


def _decode(raw: bytes) -> tuple[int, Held]:
    data = orjson.loads(raw)
    return data["p"], (data["rule"], GroupWindow.from_json(data["w"]))


WINDOW_CODEC: Codec[Held] = Codec(_encode, _decode)
