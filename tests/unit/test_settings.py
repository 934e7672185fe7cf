"""Settings: the city's time zone, which `tail` shows times in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.settings import Settings


def test_the_city_zone_is_asia_shanghai_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKSTREAM_CITY_ZONE", raising=False)
    assert Settings().city_tz.key == "Asia/Shanghai"


def test_the_city_zone_is_read_from_riskstream_city_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_CITY_ZONE", "Asia/Urumqi")
    assert Settings().city_tz.key == "Asia/Urumqi"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CST+8", "", "../etc/passwd"])
def test_a_city_zone_that_is_not_an_iana_zone_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    monkeypatch.setenv("RISKSTREAM_CITY_ZONE", zone)
    with pytest.raises(ValidationError, match="is not an IANA time zone name"):
        Settings()
