"""Against a broker that requires TLS and a SASL/SCRAM-SHA-512 login, riskstream works end to end,
and a client without the credentials is refused.

The module starts its own broker with ``scripts/kafka-local.sh start --secure`` (its own state dir, free
ports) and takes the client settings from the ``client.env`` the script writes, as a person would.
A worker, ``riskstream simulate`` (the simulator's producer), ``riskstream tail`` and
``riskstream silence list`` run with them; an aiokafka client without TLS, one with a wrong password
and one that does not trust the broker's CA are each refused, and so is a worker with a wrong password.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from connectors.target import KafkaSecurity
from tests.integration.broker import SCRIPT
from tests.integration.harness import ROOT, Worker, consume, make_worker, produce

SCENARIO = "night-market-fight"


@dataclass(frozen=True)
class SecureBroker:
    bootstrap: str
    state: Path
    env: dict[str, str]
    """The RISKSTREAM_KAFKA_* variables of client.env."""
    start_output: str

    @property
    def security_dir(self) -> Path:
        return self.state / "security"

    @property
    def password(self) -> str:
        return Path(self.env["RISKSTREAM_KAFKA_PASSWORD_FILE"]).read_text(encoding="utf-8").strip()

    def security(self, **changes: Any) -> KafkaSecurity:
        values: dict[str, Any] = {
            "protocol": self.env["RISKSTREAM_KAFKA_SECURITY_PROTOCOL"],
            "mechanism": self.env["RISKSTREAM_KAFKA_SASL_MECHANISM"],
            "username": self.env["RISKSTREAM_KAFKA_USERNAME"],
            "password": self.password,
            "cafile": Path(self.env["RISKSTREAM_KAFKA_SSL_CAFILE"]),
        }
        values.update(changes)
        return KafkaSecurity(**values)


def read_client_env(path: Path) -> dict[str, str]:
    """``export NAME=VALUE`` lines (values quoted for the shell), as `source` would set them."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
    return env


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    missing = [tool for tool in ("java", "openssl") if shutil.which(tool) is None]
    if missing:  # the plain broker may come from Docker or KAFKA_BOOTSTRAP_SERVERS; this one needs both
        pytest.skip(f"scripts/kafka-local.sh start --secure needs {' and '.join(missing)}")
    state = tmp_path_factory.mktemp("kafka-secure")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["RISKSTREAM_KAFKA_HOME"] = str(state)
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", "--secure", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    if started.returncode != 0:
        raise RuntimeError(f"kafka-local.sh start --secure failed:\n{started.stdout}\n{started.stderr}")
    lines = started.stdout.strip().splitlines()
    bootstrap = lines[-1].split("=", 1)[1]
    client_env = Path(lines[-2].split("=", 1)[1])
    try:
        yield SecureBroker(bootstrap, state, read_client_env(client_env), started.stdout + started.stderr)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def riskstream(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT, env={**env, "COLUMNS": "200", "TERM": "dumb"},
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="module")
def worker(secure_broker: SecureBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp = tmp_path_factory.mktemp("secure-worker")
    worker = make_worker(secure_broker.bootstrap, tmp, "secure", **secure_broker.env).start()
    yield worker
    worker.stop()


# ------------------------------------------------------------------ what the script made


def test_the_script_writes_client_settings_and_keeps_secrets_in_private_files(
    secure_broker: SecureBroker,
) -> None:
    env = secure_broker.env
    assert env["RISKSTREAM_KAFKA_BOOTSTRAP"] == secure_broker.bootstrap
    assert env["RISKSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["RISKSTREAM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["RISKSTREAM_KAFKA_USERNAME"] == "riskstream"
    assert "RISKSTREAM_KAFKA_PASSWORD" not in env  # only the file's path
    private = [Path(env["RISKSTREAM_KAFKA_PASSWORD_FILE"]), secure_broker.security_dir / "admin.password",
               secure_broker.security_dir / "client.properties", secure_broker.security_dir / "ca.key",
               secure_broker.security_dir / "broker-keystore.pem", secure_broker.state / "server.properties"]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(secure_broker.security_dir.stat().st_mode) == 0o700
    admin = (secure_broker.security_dir / "admin.password").read_text(encoding="utf-8").strip()
    for secret in (secure_broker.password, admin):
        assert len(secret) >= 32
        assert secret not in secure_broker.start_output
        assert secret not in (secure_broker.security_dir / "client.env").read_text(encoding="utf-8")
    assert not (secure_broker.security_dir / "format.args").exists()


# ------------------------------------------------------------------ refused


def _start_producer(bootstrap: str, **options: Any) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
        try:
            await asyncio.wait_for(producer.start(), 30)
        finally:
            await producer.stop()

    asyncio.run(go())


def test_a_plaintext_client_is_refused(secure_broker: SecureBroker) -> None:
    with pytest.raises(KafkaConnectionError):
        _start_producer(secure_broker.bootstrap)


def test_a_client_with_a_wrong_password_is_refused(
    secure_broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(KafkaConnectionError):
        _start_producer(secure_broker.bootstrap, **secure_broker.security(password="wrong").client_options())
    assert "SaslAuthenticationFailed" in caplog.text  # refused for the password, not for being away


def test_a_client_that_does_not_trust_the_brokers_ca_is_refused(
    secure_broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(KafkaConnectionError):  # the system's CAs do not know the script's CA
        _start_producer(secure_broker.bootstrap, **secure_broker.security(cafile=None).client_options())
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_the_right_credentials_are_let_in(secure_broker: SecureBroker) -> None:
    _start_producer(secure_broker.bootstrap, **secure_broker.security().client_options())


def test_a_worker_with_a_wrong_password_does_not_start_and_says_why(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    env = {k: v for k, v in make_worker(secure_broker.bootstrap, tmp_path, "wrong", **secure_broker.env)
           .env.items() if k != "RISKSTREAM_KAFKA_PASSWORD_FILE"}
    env["RISKSTREAM_KAFKA_PASSWORD"] = "wrong-password"
    result = riskstream(env, "worker", timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "SASL_SSL (SCRAM-SHA-512 as riskstream)" in result.stderr
    assert "wrong-password" not in result.stderr + result.stdout


# ------------------------------------------------------------------ end to end


def test_an_incident_sent_by_the_simulator_reaches_tail_through_the_secured_broker(
    worker: Worker, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    sent = riskstream(worker.env, "simulate", "--rate", "0", "--once", "-s", SCENARIO,
                      "--time-scale", "0", "--ground-truth", str(truth))
    assert sent.returncode == 0, sent.stderr
    want = len(orjson.loads(truth.read_text(encoding="utf-8"))["expected"])
    shown = riskstream(worker.env, "tail", "--agency", "police", "--from-beginning", "--limit", str(want),
                       timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "BLUE IV" in shown.stdout and "police: route 'police-matters' matched" in shown.stdout


def test_a_plain_aiokafka_producer_with_the_options_feeds_the_worker(
    worker: Worker, secure_broker: SecureBroker
) -> None:
    """An event from a producer of the city's own (with a client certificate too) raises an alert."""
    security = secure_broker.security(
        certfile=secure_broker.security_dir / "client.pem", keyfile=secure_broker.security_dir / "client.key"
    )
    event = {
        "event_id": "sec-hotline-1", "family": "hotline", "kind": "fight_report",
        "time": datetime.now(UTC).isoformat(), "source_id": "110-PLATFORM", "ticket_id": "SEC-0001",
        "channel": "110", "people_involved": 3, "address": "海勃湾区某夜市",
        "location": {"city": "乌海市", "district": "海勃湾区", "grid": "HBW-SEC-01"},
        "text": "夜市有人打架",
    }
    record = (f"{worker.prefix}events.hotline", b"110-PLATFORM", orjson.dumps(event))
    produce(secure_broker.bootstrap, [record], security=security.client_options())
    audit = consume(
        secure_broker.bootstrap, [f"{worker.prefix}riskstream.alerts"],
        lambda records: any(b"sec-hotline-1" in (r.value or b"") for r in records),
        timeout=45, security=security.client_options(),
    )
    assert any(b"sec-hotline-1" in (r.value or b"") for r in audit)


def test_the_clis_kafka_helpers_read_through_the_secured_broker(worker: Worker) -> None:
    listed = riskstream(worker.env, "silence", "list", timeout=60)
    assert listed.returncode == 0, listed.stderr


def test_the_worker_log_holds_no_password(worker: Worker, secure_broker: SecureBroker) -> None:
    assert secure_broker.password not in worker.log_path.read_text(errors="replace")


def test_kafkas_own_tools_log_in_with_the_scripts_client_properties(
    worker: Worker, secure_broker: SecureBroker
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["RISKSTREAM_KAFKA_HOME"] = str(secure_broker.state)  # a state dir set up secure stays secure
    listed = subprocess.run(["bash", str(SCRIPT), "tool", "topics", "--list"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert f"{worker.prefix}events.hotline" in listed.stdout.splitlines()
