"""Every setting in one typed object; each one can be overridden by a RISKSTREAM_* variable."""

from __future__ import annotations

import os
import ssl
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.target import KafkaSecurity, KafkaTarget, SaslMechanism, SecurityProtocol
from rules.dead_letters import DEAD_LETTER_MAX_BYTES
from rules.decoding import EARLIEST_TIME, TimeBounds
from rules.events import Family

PACKAGE_RULES = Path(__file__).resolve().parent.parent / "rules"


def _default_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


class Settings(BaseSettings):
    """Worker, CLI and connector settings. Environment: RISKSTREAM_<NAME>, e.g. RISKSTREAM_PARTITIONS=8."""

    # hide_input_in_errors: a refused setting's error must not echo the input (it holds secrets).
    model_config = SettingsConfigDict(
        env_prefix="RISKSTREAM_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    kafka_bootstrap: str = Field(
        default_factory=_default_bootstrap,
        description="host:port[,host:port]; falls back to KAFKA_BOOTSTRAP_SERVERS, then 127.0.0.1:9092",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (TLS + SASL login); every Kafka "
        "client of riskstream uses it",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
    )
    kafka_username: str | None = Field(default=None, description="SASL user name")
    kafka_password: SecretStr | None = Field(
        default=None, description="SASL password (never shown); prefer RISKSTREAM_KAFKA_PASSWORD_FILE"
    )
    kafka_password_file: Path | None = Field(
        default=None, description="File holding the SASL password (first line), instead of the variable"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM CA bundle the brokers' certificates must chain to (default: the system's CAs)",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate, for brokers that require mutual TLS"
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of the client certificate (unencrypted; mode 600)"
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker's certificate names the host connected to (the chain is "
        "always verified)",
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
    rules_source: Literal["files", "topic"] = Field(
        default="files",
        description="Where the worker takes its rules from: files (RISKSTREAM_RULES_PATH and ROUTING_PATH, "
        "re-read when they change: one machine) or topic (the version `riskstream rules publish` made "
        "current on the rules topic, switched to by every worker as it arrives)",
    )
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
    max_event_ahead: float = Field(
        default=86_400.0,
        gt=0,
        description="Seconds an event's time may be ahead of the worker's clock (device clocks drift, "
        "zones get mislabelled); an event further ahead goes to the dead-letter topic as bad_time",
    )
    earliest_event_time: AwareDatetime = Field(
        default=EARLIEST_TIME,
        description="Events dated before this (ISO-8601 with a zone) go to the dead-letter topic as "
        "bad_time: a device clock reset to 1970, or epoch milliseconds read as seconds",
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
    topic_rules: str = Field(
        default="riskstream.rules",
        description="Published rule versions and the pointer to the current one (compacted, one partition)",
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
        "STAGE:POINT with POINT one of decided (state changed, nothing sent), sent (output on the broker, "
        "changelog not sent), changelogged (changelog on the broker, local store not written), written "
        "(state written, input not acked), e.g. dispatch:sent",
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

    @model_validator(mode="after")
    def _kafka_security_consistent(self) -> Settings:
        problems = _kafka_security_problems(self)
        if problems:
            raise ValueError("Kafka security settings: " + "; ".join(problems))
        return self

    @field_validator("max_event_bytes")
    @classmethod
    def _event_fits_a_dead_letter(cls, v: int) -> int:
        if v > DEAD_LETTER_MAX_BYTES:
            raise ValueError(
                f"{v} is over {DEAD_LETTER_MAX_BYTES}, the most a dead letter keeps whole (a refused "
                "event must reach the dead-letter topic intact, within the producer's request size)"
            )
        return v

    def time_bounds(self) -> TimeBounds:
        """The event times the worker accepts (``earliest_event_time``, ``max_event_ahead``)."""
        return TimeBounds(self.earliest_event_time, timedelta(seconds=self.max_event_ahead))

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
        return KafkaTarget(self.kafka_bootstrap, self.input_topics(), self.kafka_security())

    def kafka_security(self) -> KafkaSecurity:
        """TLS and SASL as configured; the password file is read now, so a rotated one is picked up
        by the next client."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol,
            mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self._kafka_password(),
            cafile=self.kafka_ssl_cafile,
            certfile=self.kafka_ssl_certfile,
            keyfile=self.kafka_ssl_keyfile,
            check_hostname=self.kafka_ssl_check_hostname,
        )

    def kafka_client_options(self) -> dict[str, Any]:
        """bootstrap_servers and the TLS/SASL options: ``AIOKafkaConsumer(**s.kafka_client_options())``."""
        return self.kafka_target().client_options()

    def kafka_security_env(self) -> dict[str, str]:
        """The RISKSTREAM_KAFKA_* variables that give a child process the same security settings."""
        env = {
            "RISKSTREAM_KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
            "RISKSTREAM_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "RISKSTREAM_KAFKA_SSL_CHECK_HOSTNAME": str(self.kafka_ssl_check_hostname).lower(),
        }
        password = self.kafka_password
        optional = {
            "RISKSTREAM_KAFKA_USERNAME": self.kafka_username,
            "RISKSTREAM_KAFKA_PASSWORD": password.get_secret_value() if password is not None else None,
            "RISKSTREAM_KAFKA_PASSWORD_FILE": self.kafka_password_file,
            "RISKSTREAM_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "RISKSTREAM_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "RISKSTREAM_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        env.update({k: str(v) for k, v in optional.items() if v is not None})
        return env

    def _kafka_password(self) -> str | None:
        if self.kafka_password is not None:
            return self.kafka_password.get_secret_value()
        if self.kafka_password_file is not None:
            lines = self.kafka_password_file.read_text(encoding="utf-8").splitlines()
            return lines[0] if lines else ""
        return None


def _kafka_security_problems(s: Settings) -> list[str]:
    """What is inconsistent or missing in the RISKSTREAM_KAFKA_* settings, in their words."""
    problems: list[str] = []
    protocol = s.kafka_security_protocol
    sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    tls = protocol in ("SSL", "SASL_SSL")
    files = {
        "RISKSTREAM_KAFKA_PASSWORD_FILE": s.kafka_password_file,
        "RISKSTREAM_KAFKA_SSL_CAFILE": s.kafka_ssl_cafile,
        "RISKSTREAM_KAFKA_SSL_CERTFILE": s.kafka_ssl_certfile,
        "RISKSTREAM_KAFKA_SSL_KEYFILE": s.kafka_ssl_keyfile,
    }
    for name, path in files.items():
        if path is not None and not path.is_file():
            problems.append(f"{name}={path} is not a readable file")
    if s.kafka_password is not None and s.kafka_password_file is not None:
        problems.append("set RISKSTREAM_KAFKA_PASSWORD or RISKSTREAM_KAFKA_PASSWORD_FILE, not both")
    if sasl:
        if not s.kafka_username:
            problems.append(f"{protocol} needs RISKSTREAM_KAFKA_USERNAME")
        if s.kafka_password is None and s.kafka_password_file is None:
            problems.append(f"{protocol} needs RISKSTREAM_KAFKA_PASSWORD_FILE (or RISKSTREAM_KAFKA_PASSWORD)")
        elif s.kafka_password_file is None or s.kafka_password_file.is_file():
            try:
                if not s._kafka_password():
                    problems.append("the Kafka password is empty")
            except OSError as exc:
                problems.append(f"cannot read RISKSTREAM_KAFKA_PASSWORD_FILE: {exc.strerror}")
    elif s.kafka_username or s.kafka_password is not None or s.kafka_password_file is not None:
        problems.append(
            f"a Kafka user or password is set but RISKSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} does not "
            "log in: use SASL_SSL"
        )
    if not tls:
        given = [n for n, p in files.items() if "_SSL_" in n and p is not None]
        if given:
            problems.append(
                f"{', '.join(given)} set but RISKSTREAM_KAFKA_SECURITY_PROTOCOL={protocol} does not use "
                "TLS: use SASL_SSL (or SSL)"
            )
    if s.kafka_ssl_keyfile is not None and s.kafka_ssl_certfile is None:
        problems.append("RISKSTREAM_KAFKA_SSL_KEYFILE needs RISKSTREAM_KAFKA_SSL_CERTFILE")
    if tls and not problems:
        try:
            s.kafka_security().ssl_context()
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"cannot load the TLS files (CA, certificate, key): {exc}")
    return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
