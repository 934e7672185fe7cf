"""Every setting in one typed object; each one can be overridden by a RISKSTREAM_* variable."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.target import KafkaTarget
from rules.events import Family

PACKAGE_RULES = Path(__file__).resolve().parent.parent / "rules"


def _default_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


class Settings(BaseSettings):
    """Worker, CLI and connector settings. Environment: RISKSTREAM_<NAME>, e.g. RISKSTREAM_PARTITIONS=8."""

    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        default_factory=_default_bootstrap,
        description="host:port[,host:port]; falls back to KAFKA_BOOTSTRAP_SERVERS, then 127.0.0.1:9092",
    )
    app_id: str = Field(default="riskstream", description="Faust app id = Kafka consumer group")
    topic_prefix: str = Field(default="", description="Prepended to every topic (isolates tests)")
    partitions: int = Field(default=4, ge=1, description="Partitions of every topic riskstream creates")
    replication: int = Field(default=1, ge=1, description="Replication factor of created topics")
    rules_path: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [PACKAGE_RULES / "packs"],
        description="Rule pack files/directories, separated by ':'",
    )
    routing_path: Path = Field(default=PACKAGE_RULES / "routing.yaml", description="Routing file")
    store: Literal["rocksdb://", "memory://"] = Field(
        default="rocksdb://", description="Faust table store; memory:// replays changelogs on start"
    )
    data_dir: Path = Field(default=Path(".riskstream/data"), description="Faust tables (RocksDB)")
    session_timeout: float = Field(
        default=30.0,
        ge=6,
        description="Seconds before the group gives a silent worker's partitions (and state) to others",
    )
    fetch_max_wait: float = Field(
        default=0.05,
        gt=0,
        le=1.5,
        description="Longest the broker may hold a fetch waiting for data; it bounds how long busy "
        "partitions wait behind a fetch of quiet ones (Faust's fixed 1.5 s added seconds of latency)",
    )
    web_bind: str = Field(default="127.0.0.1", description="Metrics/HTTP bind address")
    web_port: int = Field(default=6066, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Worker log level"
    )
    city_zone: str = Field(
        default="Asia/Shanghai",
        description="The city's time zone (IANA name, e.g. Asia/Shanghai): `tail` shows times in it",
    )
    board_port: int = Field(default=6070, ge=1, le=65535, description="Port of `riskstream board` (web_bind)")
    board_token: SecretStr | None = Field(
        default=None,
        description="Shared token a duty officer enters on the board before acting (acknowledge, resolve, "
        "silence); unset: anyone who reaches the board may act",
    )
    board_token_file: Path | None = Field(default=None, description="File holding the board token instead")
    connector_metrics_port: int = Field(
        default=6068, ge=0, le=65535,
        description="Port of a connector's /metrics (on web_bind); run several connectors with "
        "--metrics-port each, 0 turns it off",
    )
    connector_timeout: float = Field(
        default=10.0, gt=0,
        description="Seconds a connector waits for Kafka to acknowledge before it answers its source "
        "'retry later' (HTTP 503) or holds the source back",
    )
    max_event_bytes: int = Field(
        default=64 * 1024, ge=256, description="Larger input messages go to the dead-letter topic"
    )

    topic_sensor: str = Field(default="events.sensor", description="IoT sensor readings")
    topic_camera: str = Field(default="events.camera", description="Camera video-analytics metadata")
    topic_safety: str = Field(default="events.safety", description="Safety-production monitoring")
    topic_cyber: str = Field(default="events.cyber", description="Network-security events")
    topic_hotline: str = Field(default="events.hotline", description="Citizen hotline reports")
    topic_dlq: str = Field(
        default="riskstream.dlq", description="Dead letters: original bytes + reason headers"
    )
    topic_candidates: str = Field(
        default="riskstream.candidates", description="Internal: rule matches keyed by fingerprint"
    )
    topic_hits: str = Field(
        default="riskstream.hits", description="Internal: stateful rule hits keyed by rule and group"
    )
    topic_audit: str = Field(default="riskstream.alerts", description="Audit copy of every alert notice")
    topic_acks: str = Field(
        default="riskstream.acks",
        description="Acknowledgements and resolutions from duty officers (compacted)",
    )
    topic_silences: str = Field(default="riskstream.silences", description="Silences (compacted)")
    topic_active: str = Field(
        default="riskstream.active",
        description="Internal: open alerts, for inhibition and storm control (compacted)",
    )
    tick_interval: float = Field(
        default=5.0,
        gt=0,
        description="Seconds between clock checks: absences, idle groups, quiet alerts, escalations",
    )
    window_cache: int = Field(
        default=50_000,
        ge=100,
        description="Window groups each stage keeps decoded in memory; the rest are read from the "
        "table when their next event comes (RocksDB keeps millions on disk)",
    )
    sweep_interval: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between sweeps that drop expired window groups from storage, a slice "
        "at a time",
    )
    crash_at: str | None = Field(
        default=None,
        description="Testing only: SIGKILL the worker the first time a stage reaches this point, "
        "e.g. dispatch:decided (state changed, nothing sent) or dispatch:sent (notices sent, state "
        "not yet written)",
    )
    stall_after: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a source partition may hold waiting messages with no progress before it "
        "counts as stalled (riskstream_stalled_partitions, and a warning saying what the worker is doing)",
    )

    @field_validator("rules_path", mode="before")
    @classmethod
    def _split_paths(cls, v: object) -> object:
        if isinstance(v, str):
            return [p for p in v.split(os.pathsep) if p]
        return v

    @field_validator("city_zone")
    @classmethod
    def _iana_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{v!r} is not an IANA time zone name (e.g. Asia/Shanghai, Asia/Urumqi, UTC)"
            ) from None
        return v

    @property
    def city_tz(self) -> ZoneInfo:
        """The city's time zone."""
        return ZoneInfo(self.city_zone)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def input_topics(self) -> dict[Family, str]:
        """Family to its full input topic name."""
        return {f: self.topic(getattr(self, f"topic_{f.value}")) for f in Family}

    def kafka_target(self) -> KafkaTarget:
        """Where connectors send events under these settings."""
        return KafkaTarget(self.kafka_bootstrap, self.input_topics())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
