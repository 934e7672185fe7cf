"""Kafka security settings: TLS and SASL (SCRAM) options for every client, checked at start, never shown.

The options are built in one place (``connectors.target.KafkaSecurity``, from ``Settings``); the
worker's Faust app gets the same description as ``broker_credentials``. A guard below fails when a
module constructs a Kafka client without them. tests/integration/test_security.py runs the whole
pipeline against a broker that requires SASL_SSL.
"""

from __future__ import annotations

import ast
import asyncio
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
import trustme
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism
from pydantic import ValidationError
from typer.testing import CliRunner

from connectors.target import PLAINTEXT, KafkaSecurity, KafkaTarget
from rules.events import Family
from streams.kafka_security import faust_credentials, unreachable
from streams.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Xy7-never-shown"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RISKSTREAM_KAFKA_* of the developer's shell (e.g. a sourced client.env) leaks in."""
    import os

    for name in list(os.environ):
        if name.startswith("RISKSTREAM_KAFKA_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    """A CA file, a client certificate and key, and a password file (with a trailing newline)."""
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    client = ca.issue_cert("riskstream-client")
    certfile, keyfile = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(certfile))
    client.private_key_pem.write_to_path(str(keyfile))
    password = tmp_path / "kafka.password"
    password.write_text(SECRET + "\n", encoding="utf-8")
    password.chmod(0o600)
    return {"ca": cafile, "cert": certfile, "key": keyfile, "password": password}


def secure(files: dict[str, Path], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap": "127.0.0.1:9094",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_username": "riskstream",
        "kafka_password_file": files["password"],
        "kafka_ssl_cafile": files["ca"],
    }
    values.update(overrides)
    return Settings(**values)


# ------------------------------------------------------------------ options


def test_by_default_clients_speak_plaintext_as_before() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9092")
    assert settings.kafka_security() == PLAINTEXT
    assert settings.kafka_client_options() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(settings.kafka_security()) is None


def test_sasl_ssl_gives_every_client_tls_and_a_scram_sha_512_login(files: dict[str, Path]) -> None:
    options = secure(files).kafka_client_options()
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "127.0.0.1:9094",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "riskstream",
        "sasl_plain_password": SECRET,  # the file's first line, without its newline
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_the_password_can_come_from_the_environment_instead(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKSTREAM_KAFKA_PASSWORD", SECRET)
    settings = secure(files, kafka_password_file=None)
    assert settings.kafka_client_options()["sasl_plain_password"] == SECRET


def test_a_rotated_password_file_is_read_by_the_next_client(files: dict[str, Path]) -> None:
    settings = secure(files)
    files["password"].write_text("rotated\n", encoding="utf-8")
    assert settings.kafka_client_options()["sasl_plain_password"] == "rotated"


def test_sasl_plaintext_logs_in_without_tls_and_ssl_encrypts_without_a_login(files: dict[str, Path]) -> None:
    options = secure(files, kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile=None,
                     kafka_sasl_mechanism="SCRAM-SHA-256").kafka_client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256" and "ssl_context" not in options
    options = secure(files, kafka_security_protocol="SSL", kafka_username=None,
                     kafka_password_file=None).kafka_client_options()
    assert options["security_protocol"] == "SSL" and isinstance(options["ssl_context"], ssl.SSLContext)
    assert "sasl_plain_password" not in options


def test_connectors_and_the_simulator_get_the_same_security_through_their_target(
    files: dict[str, Path],
) -> None:
    settings = secure(files)
    target = settings.kafka_target()
    assert target.security == settings.kafka_security()
    assert target.client_options()["sasl_plain_username"] == "riskstream"
    assert KafkaTarget("h:1", {Family.sensor: "events.sensor"}).security == PLAINTEXT


def test_a_child_process_gets_the_same_settings_from_the_environment(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = secure(files, kafka_ssl_certfile=files["cert"], kafka_ssl_keyfile=files["key"])
    env = settings.kafka_security_env()
    assert env["RISKSTREAM_KAFKA_PASSWORD_FILE"] == str(files["password"])
    assert "RISKSTREAM_KAFKA_PASSWORD" not in env  # the file's path travels, not the secret
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings(kafka_bootstrap="127.0.0.1:9094").kafka_security() == settings.kafka_security()


# ------------------------------------------------------------------ checked at start, never shown


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kafka_username": None}, "SASL_SSL needs RISKSTREAM_KAFKA_USERNAME"),
        ({"kafka_password_file": None}, "SASL_SSL needs RISKSTREAM_KAFKA_PASSWORD_FILE"),
        ({"kafka_password": SECRET}, "not both"),
        ({"kafka_security_protocol": "PLAINTEXT", "kafka_ssl_cafile": None}, "does not log in"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "RISKSTREAM_KAFKA_SSL_CAFILE set but"),
        ({"kafka_ssl_keyfile": "KEY"}, "RISKSTREAM_KAFKA_SSL_KEYFILE needs RISKSTREAM_KAFKA_SSL_CERTFILE"),
        ({"kafka_ssl_cafile": Path("/nonexistent/ca.pem")}, "CAFILE=/nonexistent/ca.pem is not a readable"),
        ({"kafka_password_file": Path("/nonexistent/pw")}, "is not a readable file"),
        ({"kafka_ssl_cafile": "PASSWORD"}, "cannot load the TLS files"),
        ({"kafka_security_protocol": "SASL_TLS"}, "kafka_security_protocol"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
    ],
)
def test_inconsistent_security_settings_are_refused_with_what_to_set(
    files: dict[str, Path], overrides: dict[str, Any], message: str
) -> None:
    for key, value in overrides.items():  # names of fixture files
        if value == "KEY":
            overrides[key] = files["key"]
        elif value == "PASSWORD":
            overrides[key] = files["password"]  # not a certificate
    with pytest.raises(ValidationError) as refused:
        secure(files, **overrides)
    assert message in str(refused.value)
    assert SECRET not in str(refused.value)


def test_an_empty_password_file_is_refused(files: dict[str, Path]) -> None:
    files["password"].write_text("", encoding="utf-8")
    with pytest.raises(ValidationError, match="the Kafka password is empty"):
        secure(files)


def test_a_refused_setting_never_echoes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_KAFKA_PASSWORD", SECRET)
    monkeypatch.setenv("RISKSTREAM_KAFKA_USERNAME", "riskstream")
    with pytest.raises(ValidationError) as refused:  # PLAINTEXT with a login: refused, input hidden
        Settings()
    assert SECRET not in str(refused.value) and SECRET not in repr(refused.value)


def test_riskstream_config_masks_the_password(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.cli import app

    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("RISKSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("RISKSTREAM_KAFKA_USERNAME", "riskstream")
    monkeypatch.setenv("RISKSTREAM_KAFKA_PASSWORD", SECRET)
    monkeypatch.setenv("RISKSTREAM_KAFKA_SSL_CAFILE", str(files["ca"]))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["config"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "RISKSTREAM_KAFKA_PASSWORD" in result.output and "SASL_SSL" in result.output
    assert "**********" in result.output
    assert SECRET not in result.output


def test_reprs_and_descriptions_leave_the_password_out(files: dict[str, Path]) -> None:
    settings = secure(files, kafka_password_file=None, kafka_password=SECRET)
    security = settings.kafka_security()
    for text in (repr(settings), str(settings), repr(security), security.describe(),
                 repr(settings.kafka_target()), repr(faust_credentials(security)), unreachable(settings)):
        assert SECRET not in text
    assert security.describe() == "SASL_SSL (SCRAM-SHA-512 as riskstream)"
    assert "SASL_SSL (SCRAM-SHA-512 as riskstream)" in unreachable(settings)
    assert "RISKSTREAM_KAFKA_" in unreachable(settings)


# ------------------------------------------------------------------ the worker's Faust app


def test_faust_gets_the_same_options_for_its_consumer_and_producer(files: dict[str, Path]) -> None:
    security = secure(files).kafka_security()
    credentials = faust_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_512
    ours = security.client_options()
    theirs = credentials_to_aiokafka_auth(credentials)  # what Faust's consumers are built with
    assert {k: v for k, v in theirs.items() if k != "ssl_context"} == {
        k: v for k, v in ours.items() if k != "ssl_context"
    }
    assert isinstance(theirs["ssl_context"], ssl.SSLContext)

    app = faust.App("security-test", broker="kafka://127.0.0.1:9094", broker_credentials=credentials)
    producer = dict(app.producer._settings_default())  # what Faust's producer is built with
    producer.update(app.producer._settings_auth())
    assert producer["security_protocol"] == "SASL_SSL"
    assert producer["sasl_mechanism"] == "SCRAM-SHA-512"
    assert producer["sasl_plain_username"] == "riskstream"


def test_faust_credentials_follow_the_protocol(files: dict[str, Path]) -> None:
    plain_sasl = faust_credentials(
        secure(files, kafka_security_protocol="SASL_PLAINTEXT", kafka_ssl_cafile=None).kafka_security()
    )
    assert isinstance(plain_sasl, faust.SASLCredentials)
    assert plain_sasl.protocol is AuthProtocol.SASL_PLAINTEXT
    tls_only = faust_credentials(
        secure(files, kafka_security_protocol="SSL", kafka_username=None, kafka_password_file=None)
        .kafka_security()
    )
    assert isinstance(tls_only, faust.SSLCredentials)
    assert credentials_to_aiokafka_auth(tls_only)["security_protocol"] == "SSL"


# ------------------------------------------------------------------ the TLS context really verifies


async def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="127.0.0.1"), 10
        )
        writer.close()
    finally:
        server.close()


def _server(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def test_the_client_accepts_a_broker_certificate_of_its_ca_for_the_address(
    ca: trustme.CA, files: dict[str, Path]
) -> None:
    client = secure(files).kafka_security().ssl_context()
    assert client is not None
    asyncio.run(_handshake(_server(ca, "127.0.0.1", "localhost"), client))


def test_the_client_refuses_a_broker_certificate_of_another_ca(files: dict[str, Path]) -> None:
    client = secure(files).kafka_security().ssl_context()
    assert client is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(_handshake(_server(trustme.CA(), "127.0.0.1"), client))


def test_hostname_checking_can_be_turned_off_but_the_chain_is_still_verified(
    ca: trustme.CA, files: dict[str, Path]
) -> None:
    checked = secure(files).kafka_security().ssl_context()
    assert checked is not None
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        asyncio.run(_handshake(_server(ca, "broker.example"), checked))
    unchecked = secure(files, kafka_ssl_check_hostname=False).kafka_security().ssl_context()
    assert unchecked is not None
    asyncio.run(_handshake(_server(ca, "broker.example"), unchecked))
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(_handshake(_server(trustme.CA(), "broker.example"), unchecked))


def test_a_client_certificate_is_presented_for_mutual_tls(ca: trustme.CA, files: dict[str, Path]) -> None:
    server = _server(ca, "127.0.0.1")
    server.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server)
    without = secure(files).kafka_security().ssl_context()
    with_cert = secure(files, kafka_ssl_certfile=files["cert"], kafka_ssl_keyfile=files["key"])
    assert without is not None
    asyncio.run(_handshake(server, with_cert.kafka_security().ssl_context() or ssl.create_default_context()))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        asyncio.run(_handshake_and_read(server, without))


async def _handshake_and_read(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
    """TLS 1.3 reports a refused client certificate on the first read, not in the handshake."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="127.0.0.1"), 10
        )
        data = await asyncio.wait_for(reader.read(1), 10)
        writer.close()
        if not data:
            raise ConnectionError("closed by the server")
    finally:
        server.close()


# ------------------------------------------------------------------ every client, no exception

CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
FAUST_APPS = {"App", "BatchingApp"}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def test_every_kafka_client_of_the_project_is_built_with_the_security_options() -> None:
    """A client given only bootstrap_servers would speak PLAINTEXT to a secured cluster.

    Each construction must take a ``**options`` mapping (``settings.kafka_client_options()``,
    ``target.client_options()`` or a mapping handed down from them), and a Faust app its
    ``broker_credentials``.
    """
    offenders, seen = [], 0
    for package in ("rules", "streams", "connectors", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for call in _calls(tree):
                name = _name(call)
                where = f"{path.relative_to(ROOT)}:{call.lineno} {name}"
                if name in CLIENTS:
                    seen += 1
                    if not any(k.arg is None for k in call.keywords):
                        offenders.append(where)
                elif name in FAUST_APPS and path.name == "app.py":
                    seen += 1
                    if "broker_credentials" not in {k.arg for k in call.keywords}:
                        offenders.append(where)
    assert seen >= 15  # the guard looks where the clients are
    assert offenders == [], f"Kafka clients built without the security options: {offenders}"


def test_kafka_security_defaults_are_plaintext() -> None:
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().ssl_context() is None
