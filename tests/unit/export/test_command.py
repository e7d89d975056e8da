"""The ``customer-groups export`` command line: options, dates, exit codes."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest

from pipeline.cli import build_parser
from pipeline.export.command import export_command, parse_day, shop_today
from pipeline.settings import Settings


def test_the_export_subcommand_takes_its_options() -> None:
    args = build_parser().parse_args(["export", "--group", "12", "--group", "7", "--date", "2025-11-20",
                                      "--out", "/srv/exports", "--delta"])
    assert (args.group, args.date, args.out, args.delta) == (["12", "7"], "2025-11-20", "/srv/exports", True)
    assert args.handler.__name__ == "cmd_export"
    defaults = build_parser().parse_args(["export"])
    assert (defaults.group, defaults.date, defaults.out, defaults.delta) == (None, None, None, False)


def test_dates_are_strict_iso_days() -> None:
    assert parse_day("2025-11-20") == date(2025, 11, 20)
    for bad in ("20251120", "20/11/2025", "2025-11-31", "2025-11-20T00:00"):
        with pytest.raises(ValueError):
            parse_day(bad)


def test_today_is_the_shops_local_day() -> None:
    just_after_midnight_in_tokyo = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    assert shop_today(Settings(shop_timezone="Asia/Tokyo"), just_after_midnight_in_tokyo) == date(2025, 11, 21)
    assert shop_today(Settings(shop_timezone="Europe/London"), just_after_midnight_in_tokyo) == date(2025, 11, 20)


def test_a_bad_date_fails_before_touching_any_server() -> None:
    err = io.StringIO()
    settings = Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")
    assert export_command(settings, day="tomorrow", stderr=err) == 2
    assert "YYYY-MM-DD" in err.getvalue()
