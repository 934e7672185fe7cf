"""What every source is: a checked spec from the connector file that knows how to run itself."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from connectors.edge import Edge


class SourceSpec(BaseModel):
    """The ``source:`` section of a connector file; each source type is one subclass in SOURCES."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    default_format: ClassVar[str] = "json"

    @abstractmethod
    async def run(self, edge: Edge) -> None:
        """Receive until ``edge.stopping`` is set; hand everything to ``edge`` and acknowledge the
        source only after ``edge.deliver`` has returned (Kafka has it)."""

    @abstractmethod
    def describe(self) -> str:
        """Where it listens or reads, for the start-up line."""
