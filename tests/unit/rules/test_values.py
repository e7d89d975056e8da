"""Values as shop staff type them: British dates, relative dates, durations, money."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.rules.values import (
    Duration,
    RelativeDate,
    format_money,
    parse_bool,
    parse_date,
    parse_duration,
    parse_int,
    parse_money,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("01/11/2025", date(2025, 11, 1)),  # British: day first
    ("1/2/2025", date(2025, 2, 1)),
    ("2025-11-01", date(2025, 11, 1)),
    (" 31/12/2024 ", date(2024, 12, 31)),
])
def test_fixed_dates(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("today", RelativeDate(Duration(0, "days"))),
    ("yesterday", RelativeDate(Duration(1, "days"))),
    ("30 days ago", RelativeDate(Duration(30, "days"))),
    ("3 Months Ago", RelativeDate(Duration(3, "months"))),
    ("1 year ago", RelativeDate(Duration(1, "years"))),
])
def test_relative_dates(text: str, expected: RelativeDate) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["31/02/2025", "2025/11/01", "next tuesday", "3 fortnights ago", 20251101])
def test_bad_dates_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match=r"date|unit"):
        parse_date(text)


def test_relative_months_clamp_to_month_end() -> None:
    assert RelativeDate(Duration(1, "months")).resolve(date(2025, 3, 31)) == date(2025, 2, 28)
    assert RelativeDate(Duration(1, "years")).resolve(date(2024, 2, 29)) == date(2023, 2, 28)
    assert RelativeDate(Duration(2, "weeks")).resolve(date(2025, 1, 10)) == date(2024, 12, 27)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)),
       st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)),
       st.integers(1, 40), st.sampled_from(["days", "weeks", "months", "years"]))
def test_going_back_is_monotone(a: date, b: date, amount: int, unit: str) -> None:
    duration = Duration(amount, unit)  # type: ignore[arg-type]
    low, high = sorted((a, b))
    assert duration.back_from(low) <= duration.back_from(high)
    assert (low - duration.back_from(low)).days <= duration.longest_days()


@pytest.mark.parametrize(("text", "expected"), [
    ("30 days", Duration(30, "days")), ("2 weeks", Duration(2, "weeks")),
    ("3 months", Duration(3, "months")), ("1 year", Duration(1, "years")), ("12m", Duration(12, "months")),
])
def test_durations(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0 days", "three months", "3 lightyears", 30, None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("value", "pence"), [
    ("£500", 50000), (500, 50000), ("500.50", 50050), ("1,250", 125000), ("99 GBP", 9900), (0.015, 2),
])
def test_money_in_minor_units(value: object, pence: int) -> None:
    assert parse_money(value, "GBP") == pence


@pytest.mark.parametrize("value", ["$500", "-5", "lots", True, None, "NaN"])
def test_bad_money(value: object) -> None:
    with pytest.raises(ValueError):
        parse_money(value, "GBP")


def test_money_formats_with_the_shop_symbol() -> None:
    assert format_money(50000, "GBP") == "£500.00"
    assert format_money(123456, "SEK") == "1,234.56 SEK"


def test_ints_and_bools() -> None:
    assert parse_int("0") == 0 and parse_int(3.0) == 3
    with pytest.raises(ValueError):
        parse_int(True)
    with pytest.raises(ValueError):
        parse_int("1.5")
    assert parse_bool("Yes") is True and parse_bool("no") is False and parse_bool(False) is False
    with pytest.raises(ValueError):
        parse_bool("maybe")
