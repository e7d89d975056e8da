"""Parsing the values shop staff type into rule rows.

Dates are British (``01/11/2025`` is 1 November) or ISO (``2025-11-01``);
relative dates read ``30 days ago``, ``3 months ago``, ``today``; durations
read ``30 days``, ``2 weeks``, ``3 months``, ``1 year``; money may carry the
shop currency's symbol (``£500``). Every parser raises ``ValueError`` with a
message an admin can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal

Unit = Literal["days", "weeks", "months", "years"]

_UNIT_ALIASES: dict[str, Unit] = {
    "day": "days", "days": "days", "d": "days",
    "week": "weeks", "weeks": "weeks", "w": "weeks",
    "month": "months", "months": "months", "m": "months",
    "year": "years", "years": "years", "y": "years",
}
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([a-z]+)\s*$")
_AGO = re.compile(r"^\s*(\d{1,4})\s*([a-z]+)\s+ago\s*$")
_UK_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_CURRENCY_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR"}


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar length: months and years follow the calendar, not 30-day blocks."""

    amount: int
    unit: Unit

    def back_from(self, day: date) -> date:
        """The same calendar position ``amount`` units before ``day`` (month ends clamp)."""
        if self.unit == "days":
            return day - timedelta(days=self.amount)
        if self.unit == "weeks":
            return day - timedelta(weeks=self.amount)
        months = self.amount * (12 if self.unit == "years" else 1)
        return _add_months(day, -months)

    def longest_days(self) -> int:
        """An upper bound on the length in days, for search horizons."""
        per_unit = {"days": 1, "weeks": 7, "months": 31, "years": 366}[self.unit]
        return self.amount * per_unit

    def __str__(self) -> str:
        unit = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {unit}"


@dataclass(frozen=True, slots=True)
class RelativeDate:
    """A date that moves with today: ``duration`` before the current day."""

    duration: Duration

    def resolve(self, today: date) -> date:
        return self.duration.back_from(today)

    def __str__(self) -> str:
        return "today" if self.duration.amount == 0 else f"{self.duration} ago"


def _add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last = _days_in_month(year, month)
    return date(year, month, min(day.day, last))


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - timedelta(days=1)).day


def parse_duration(text: object) -> Duration:
    if not isinstance(text, str):
        raise ValueError(f"expected a length of time such as '30 days' or '3 months', got {text!r}")
    match = _DURATION.match(text.lower())
    unit = _UNIT_ALIASES.get(match.group(2)) if match else None
    if not match or unit is None:
        raise ValueError(
            f"{text!r} is not a length of time: write a number and days, weeks, months or years, "
            "e.g. '30 days' or '3 months'"
        )
    amount = int(match.group(1))
    if amount < 1:
        raise ValueError(f"{text!r}: a length of time must be at least 1")
    return Duration(amount, unit)


def parse_date(text: object) -> date | RelativeDate:
    """A fixed date (UK or ISO) or a relative one (``30 days ago``, ``today``, ``yesterday``)."""
    if isinstance(text, date):
        return text
    if not isinstance(text, str):
        raise ValueError(f"expected a date such as 01/11/2025, got {text!r}")
    lowered = text.strip().lower()
    if lowered == "today":
        return RelativeDate(Duration(0, "days"))
    if lowered == "yesterday":
        return RelativeDate(Duration(1, "days"))
    ago = _AGO.match(lowered)
    if ago:
        unit = _UNIT_ALIASES.get(ago.group(2))
        if unit is None:
            raise ValueError(f"{text!r}: unknown unit {ago.group(2)!r}; use days, weeks, months or years")
        return RelativeDate(Duration(int(ago.group(1)), unit))
    for pattern, order in ((_UK_DATE, (3, 2, 1)), (_ISO_DATE, (1, 2, 3))):
        match = pattern.match(text)
        if match:
            year, month, day = (int(match.group(i)) for i in order)
            try:
                return date(year, month, day)
            except ValueError:
                raise ValueError(f"{text!r} is not a real date") from None
    raise ValueError(
        f"{text!r} is not a date: write day/month/year (01/11/2025), year-month-day "
        "(2025-11-01), or a relative date such as '30 days ago' or 'today'"
    )


def parse_money(value: object, currency: str) -> int:
    """An amount in the shop currency's minor units (pence): ``'£500'`` → 50000."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected an amount of money such as 500 or £500, got {value!r}")
    text = str(value).strip().replace(",", "")
    if text and text[0] in _CURRENCY_SYMBOLS:
        if _CURRENCY_SYMBOLS[text[0]] != currency:
            raise ValueError(f"{value!r} is not in the shop currency ({currency})")
        text = text[1:]
    elif text[-3:].upper() == currency:
        text = text[:-3].strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount of money") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} must be a positive amount")
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def parse_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "y", "1"):
        return True
    if lowered in ("false", "no", "n", "0"):
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def format_money(minor: int, currency: str) -> str:
    symbol = next((s for s, c in _CURRENCY_SYMBOLS.items() if c == currency), "")
    amount = f"{minor / 100:,.2f}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"
