"""Where the edges send events: the Kafka bootstrap servers, how to authenticate, each family's topic.

Connectors take this from whoever runs them (the CLI builds it from the worker's settings), so the
edges depend on nothing of the runtime. ``KafkaSecurity`` is the one place that turns the security
settings into aiokafka's client options; every Kafka client of the project is built with them.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from aiokafka.helpers import create_ssl_context

from rules.events import Family

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
SECURITY_PROTOCOLS: tuple[str, ...] = get_args(SecurityProtocol)
SASL_MECHANISMS: tuple[str, ...] = get_args(SaslMechanism)


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client talks to the brokers: TLS or not, SASL or not (and as whom).

    ``password`` is the secret itself (read from the environment or a file by the caller); it is
    left out of ``repr`` and of ``describe`` so it never reaches a log line.
    """

    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    """CA bundle the brokers' certificates must chain to; None: the system's trusted CAs."""
    certfile: Path | None = None
    """Client certificate (PEM, may hold the key too) for brokers that want mutual TLS."""
    keyfile: Path | None = None
    check_hostname: bool = True

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for the brokers (None without TLS). Raises OSError/ssl.SSLError on bad files.

        A key file must not be encrypted (protect it by its file mode): an empty password makes
        OpenSSL fail on an encrypted key instead of prompting on a terminal.
        """
        if not self.tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(self.cafile) if self.cafile is not None else None,
            certfile=str(self.certfile) if self.certfile is not None else None,
            keyfile=str(self.keyfile) if self.keyfile is not None else None,
            password="" if self.certfile is not None else None,
        )
        if not self.check_hostname:
            context.check_hostname = False  # the chain is still verified (CERT_REQUIRED)
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options

    def describe(self) -> str:
        """For messages and logs: the protocol, mechanism and user, never the password."""
        if self.sasl:
            return f"{self.protocol} ({self.mechanism} as {self.username})"
        return self.protocol


PLAINTEXT = KafkaSecurity()


@dataclass(frozen=True)
class KafkaTarget:
    bootstrap: str
    topics: Mapping[Family, str]
    security: KafkaSecurity = PLAINTEXT

    def input_topics(self) -> Mapping[Family, str]:
        return self.topics

    def client_options(self) -> dict[str, Any]:
        """bootstrap_servers and the security options, for any aiokafka client."""
        return {"bootstrap_servers": self.bootstrap, **self.security.client_options()}
