"""The security settings as Faust wants them, and what to say when a broker does not let a client in.

Every plain aiokafka client takes ``settings.kafka_client_options()`` (``connectors.target``'s
``KafkaSecurity``); the worker's Faust app takes the same description as ``broker_credentials``, which
Faust's aiokafka transport turns back into the same options for its consumer, producer and the
client that creates its internal topics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.target import KafkaSecurity
from streams.settings import Settings

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT


def faust_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """Faust's ``broker_credentials`` for these settings; None for PLAINTEXT."""
    from faust.auth import SASLCredentials, SSLCredentials  # the CLIs that never run Faust skip it

    if security.sasl:
        return SASLCredentials(
            username=security.username,
            password=security.password,
            mechanism=security.mechanism,
            ssl_context=security.ssl_context(),  # None for SASL_PLAINTEXT, which Faust keys on
        )
    if security.tls:
        return SSLCredentials(security.ssl_context())
    return None


START_HINT = "start it (`make kafka`) or set RISKSTREAM_KAFKA_BOOTSTRAP"


def unreachable(settings: Settings, hint: str = START_HINT) -> str:
    """Why a client could not start: the broker is not there, or (with security on) it refused us."""
    security = settings.kafka_security()
    if security.protocol == "PLAINTEXT":
        return f"cannot reach Kafka at {settings.kafka_bootstrap}: {hint}"
    return (
        f"cannot reach Kafka at {settings.kafka_bootstrap} over {security.describe()}: is it running, "
        "and do its listener, CA and credentials match RISKSTREAM_KAFKA_* (`riskstream config`)? "
        "aiokafka's error above, if shown, says what the broker answered"
    )
