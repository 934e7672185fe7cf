"""Where the edges send events: the Kafka bootstrap servers and each family's input topic.

Connectors take this from whoever runs them (the CLI builds it from the worker's settings), so the
edges depend on nothing of the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rules.events import Family


@dataclass(frozen=True)
class KafkaTarget:
    bootstrap: str
    topics: Mapping[Family, str]

    def input_topics(self) -> Mapping[Family, str]:
        return self.topics
