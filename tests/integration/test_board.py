"""The alert board in a real headless Chromium (Debian's chromium and chromedriver), against a real
broker and worker: an incident appears, and acknowledge and resolve from the page change it everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.integration import harness
from tests.integration.connector_kit import wait_for_port
from tests.integration.harness import ROOT, Process, Worker, consume, free_port, make_worker, produce

ARTIFACTS = ROOT / "tests" / "artifacts"
PACK = """\
version: 1
pack: it-board
rules:
  - id: it-board-smoke
    title: 烟感报警
    risk: public_safety
    on: sensor
    kind: smoke
    when: status == 'alarm'
    tier: orange
    action: 派消防站核查
    group_by: [source_id]
    route: [fire]
"""
TOKEN = "duty-desk-token"


@dataclass
class BoardProcess(Process):
    proc: subprocess.Popen[bytes] | None
    log_path: Path
    port: int

    @classmethod
    def start(cls, worker: Worker, log_path: Path) -> BoardProcess:
        env = {**worker.env, "RISKSTREAM_BOARD_TOKEN": TOKEN}
        log = log_path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "board", "--port", str(port := free_port()), "--since", "1h"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        board = cls(proc, log_path, port)
        harness.started.append(board)
        wait_for_port(port)
        return board


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    tmp: Path = tmp_path_factory.mktemp("board")
    (tmp / "pack.yaml").write_text(PACK, encoding="utf-8")
    w = make_worker(
        bootstrap, tmp, "board", RISKSTREAM_RULES_PATH=str(tmp / "pack.yaml"), RISKSTREAM_TICK_INTERVAL="1"
    ).start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def board(worker: Worker) -> Iterator[BoardProcess]:
    b = BoardProcess.start(worker, worker.log_path.with_name("board.log"))
    yield b
    b.stop()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(driver_path)):
        raise RuntimeError(
            "chromium and chromedriver are needed: run `bash scripts/install-peers.sh` "
            "(Debian packages chromium, chromium-driver)"
        )
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--lang=zh-CN",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def smoke(event_id: str, source: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "kind": "smoke",
            "status": "alarm",
            "time": datetime.now(UTC).isoformat(),
            "source_id": source,
            "location": {"city": "乌海市", "district": "海勃湾区", "grid": "HBW-02-02", "name": "新华街12号"},
        }
    )


def card(driver: WebDriver, source: str) -> str:
    """The alert id of the card for ``source``'s alert, once the page shows it."""
    found: list[str] = []

    def shown(d: WebDriver) -> bool:
        for article in d.find_elements(By.CSS_SELECTOR, "article.alert"):
            if source in article.text:
                found.append(article.get_attribute("data-alert-id") or "")
                return True
        return False

    WebDriverWait(driver, 60).until(shown)
    return found[0]


def act(driver: WebDriver, alert_id: str, action: str, by: str, note: str) -> None:
    driver.find_element(
        By.CSS_SELECTOR, f'article[data-alert-id="{alert_id}"] button[data-act="{action}"]'
    ).click()
    for field, text in (("act-by", by), ("act-note", note)):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(text)
    driver.find_element(By.ID, "act-submit").click()


def status_of(driver: WebDriver, alert_id: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, f'article[data-alert-id="{alert_id}"]')
    return (found[0].get_attribute("data-status") or "") if found else ""


def audit(worker: Worker, alert_id: str, change: str) -> dict[str, object]:
    records = consume(
        worker.bootstrap,
        [f"{worker.prefix}riskstream.alerts"],
        lambda rs: any(_is(r.value, alert_id, change) for r in rs),
    )
    return next(orjson.loads(r.value)["data"] for r in records if _is(r.value, alert_id, change))


def _is(value: bytes | None, alert_id: str, change: str) -> bool:
    data = orjson.loads(value or b"{}").get("data", {})
    return bool(data.get("alert_id") == alert_id and data.get("change") == change)


def sign_in(driver: WebDriver) -> None:
    driver.find_element(By.ID, "login").click()
    driver.find_element(By.ID, "signin-token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button[value=ok]").click()


def test_an_incident_appears_and_ack_and_resolve_from_the_page_change_it_everywhere(
    worker: Worker, board: BoardProcess, browser: WebDriver
) -> None:
    browser.get(f"http://127.0.0.1:{board.port}/")
    produce(worker.bootstrap, [(f"{worker.prefix}events.sensor", b"SMOKE-B1", smoke("board-1", "SMOKE-B1"))])
    alert_id = card(browser, "新华街12号")
    assert "烟感报警" in browser.find_element(By.CSS_SELECTOR, f'article[data-alert-id="{alert_id}"]').text
    sign_in(browser)

    act(browser, alert_id, "ack", "王警官", "已出警")
    WebDriverWait(browser, 60).until(lambda d: status_of(d, alert_id) == "acknowledged")
    acked = audit(worker, alert_id, "acknowledged")
    assert (acked["acknowledged_by"], acked["ack_note"]) == ("王警官", "已出警")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "board-acknowledged.png"))

    act(browser, alert_id, "resolve", "李队长", "已处置")
    Select(browser.find_element(By.ID, "f-status")).select_by_value("")
    WebDriverWait(browser, 60).until(lambda d: status_of(d, alert_id) == "resolved")
    resolved = audit(worker, alert_id, "resolved")
    assert resolved["status"] == "resolved"
    text = browser.find_element(By.CSS_SELECTOR, f'article[data-alert-id="{alert_id}"]').text
    assert "李队长" in text and "王警官" in text
    browser.save_screenshot(str(ARTIFACTS / "board-resolved.png"))


def test_acting_without_the_token_is_refused(board: BoardProcess) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{board.port}/api/alerts/x/ack",
        method="POST",
        data=json.dumps({"by": "nobody"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401


def test_a_silence_from_the_board_is_on_the_silences_topic_with_its_author(
    worker: Worker, board: BoardProcess
) -> None:
    body = {
        "by": "运维张工",
        "reason": "烟感更换",
        "duration": "2h",
        "matchers": {"rule": "it-board-smoke", "source_id": "SMOKE-B9"},
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{board.port}/api/silences",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        created = json.loads(response.read())
    records = consume(worker.bootstrap, [f"{worker.prefix}riskstream.silences"], lambda rs: len(rs) >= 1)
    silence = orjson.loads(records[-1].value)
    assert silence["id"] == created["silence_id"]
    assert (silence["author"], silence["reason"]) == ("运维张工", "烟感更换")
    assert silence["matchers"] == {"rule": "it-board-smoke", "source_id": "SMOKE-B9"}
