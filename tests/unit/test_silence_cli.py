"""What `riskstream silence add` accepts: matchers people type, and silence files."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from rules.silences import SilenceFile
from rules.yaml_source import load_yaml, to_plain
from streams.silence_cli import parse_matchers


def test_matchers_are_key_value_pairs_and_a_comma_means_any_of() -> None:
    assert parse_matchers(["rule=gas-leak", "tier=blue,yellow", "source_id=MH-3"]) == {
        "rule": "gas-leak",
        "tier": ["blue", "yellow"],
        "source_id": "MH-3",
    }


def test_a_group_field_path_is_a_matcher_key() -> None:
    assert parse_matchers(["location.grid=G-07"]) == {"location.grid": "G-07"}


@pytest.mark.parametrize("item", ["rule", "=x", "rule="])
def test_a_matcher_without_key_or_value_says_how_to_write_one(item: str) -> None:
    with pytest.raises(ValueError, match="write key=value"):
        parse_matchers([item])


def test_an_unknown_matcher_key_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown matcher key 'grids'.*rule, risk, tier"):
        parse_matchers(["grids=G-07"])


def test_a_silence_file_holds_one_off_and_weekly_silences(tmp_path: Path) -> None:
    path = tmp_path / "silences.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            silences:
              - matchers: {rule: manhole-tilt, source_id: MH-3}
                starts_at: 2026-12-01T08:00:00+08:00
                ends_at: 2026-12-01T18:00:00+08:00
                author: 运维张工
                reason: 井盖更换施工
              - matchers: {source_id: GAS-7}
                starts_at: 2026-12-01T00:00:00+08:00
                ends_at: 2027-03-01T00:00:00+08:00
                recurring: {every: [sun], from: "02:00", to: "04:00"}
                author: 运维
                reason: 例行检修
            """
        ),
        encoding="utf-8",
    )
    one_off, weekly = SilenceFile.model_validate(to_plain(load_yaml(path))).silences
    assert one_off.active(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    assert not one_off.active(datetime(2026, 12, 1, 11, 0, tzinfo=UTC))
    sunday_3am_beijing = datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
    assert weekly.active(sunday_3am_beijing)
    assert not weekly.active(datetime(2026, 12, 5, 21, 0, tzinfo=UTC))


def test_a_silence_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationError, match="must end after it starts"):
        SilenceFile.model_validate(
            {
                "version": 1,
                "silences": [
                    {
                        "matchers": {"rule": "x"},
                        "starts_at": "2026-12-01T08:00:00+08:00",
                        "ends_at": "2026-12-01T07:00:00+08:00",
                        "author": "a",
                        "reason": "r",
                    }
                ],
            }
        )
