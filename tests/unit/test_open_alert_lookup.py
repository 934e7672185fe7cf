"""A duty officer names an alert by id (or its start): the open alerts answer, or say what to do."""

from __future__ import annotations

import pytest

from rules.errors import AlertNotOpenError
from rules.events import Family
from rules.model import Risk, Tier
from rules.world import ActiveAlert, ActiveIndex
from tests.unit.conftest import T0

FIRST = "3f2a9c41-0d6e-5b7a-9c1e-2f4b6d8a0c11"
SECOND = "3f2a9c41-77aa-5b7a-9c1e-2f4b6d8a0c22"
OTHER = "8be01d77-1c2d-5e3f-8a9b-0c1d2e3f4a5b"


def open_alert(alert_id: str, fp: str) -> ActiveAlert:
    return ActiveAlert(
        fingerprint=fp,
        alert_id=alert_id,
        rule_id="gas",
        risk=Risk.public_safety,
        tier=Tier.yellow,
        family=Family.sensor,
        kind="combustible_gas",
        place=("C", "D", None, None, "G-07"),
        opened_at=T0,
    )


@pytest.fixture
def index() -> ActiveIndex:
    return ActiveIndex([open_alert(FIRST, "fp1"), open_alert(SECOND, "fp2"), open_alert(OTHER, "fp3")])


def test_the_whole_id_finds_its_alert(index: ActiveIndex) -> None:
    assert index.find(SECOND).fingerprint == "fp2"


def test_the_start_of_an_id_finds_the_only_alert_it_fits(index: ActiveIndex) -> None:
    assert index.find("8be01d77").alert_id == OTHER


def test_a_start_that_fits_several_alerts_asks_for_more_and_names_them(index: ActiveIndex) -> None:
    with pytest.raises(AlertNotOpenError, match=r"2 open alerts.*give more of the id") as caught:
        index.find("3f2a9c41")
    assert FIRST in str(caught.value) and SECOND in str(caught.value)


def test_an_id_no_open_alert_has_says_it_resolved_or_is_mistyped(index: ActiveIndex) -> None:
    with pytest.raises(AlertNotOpenError, match=r"resolved already, or the id is mistyped.*riskstream tail"):
        index.find("00000000-0000-0000-0000-000000000000")


def test_a_start_shorter_than_eight_characters_is_not_enough(index: ActiveIndex) -> None:
    with pytest.raises(AlertNotOpenError, match="at least its first 8 characters"):
        index.find("8be0")
