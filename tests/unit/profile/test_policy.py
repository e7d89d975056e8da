"""ProfilePolicy: local days, DST-correct midnights, minor units."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.profile import ProfilePolicy, fold, new_profile, to_minor
from pipeline.settings import Settings

from .builders import view

LONDON = ProfilePolicy()


def test_the_two_events_around_the_spring_forward_midnight_fall_on_their_local_days() -> None:
    # 2025-03-30 is the day London moves to BST (01:00 UTC). Both instants are still GMT.
    after_midnight = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)
    before_midnight = datetime(2025, 3, 29, 23, 30, tzinfo=UTC)
    assert LONDON.local_date(after_midnight) == date(2025, 3, 30)
    assert LONDON.local_date(before_midnight) == date(2025, 3, 29)
    assert LONDON.day_of(after_midnight) - LONDON.day_of(before_midnight) == 1

    profile = new_profile("v:vis-1")
    fold(profile, view(at=after_midnight), LONDON)
    fold(profile, view(at=before_midnight), LONDON)
    days = profile.values("viewed", "product")["sku-1"]
    assert dict(days) == {date(2025, 3, 29).toordinal(): 1, date(2025, 3, 30).toordinal(): 1}


def test_summer_instants_use_bst() -> None:
    # 23:30 UTC in July is 00:30 BST the next day.
    assert LONDON.local_date(datetime(2025, 7, 1, 23, 30, tzinfo=UTC)) == date(2025, 7, 2)
    assert LONDON.local_date(datetime(2025, 7, 1, 22, 59, tzinfo=UTC)) == date(2025, 7, 1)


def test_start_of_day_is_dst_correct() -> None:
    d = date(2025, 3, 30).toordinal()
    assert LONDON.start_of_day(d) == datetime(2025, 3, 30, 0, 0, tzinfo=UTC)
    assert LONDON.start_of_day(d + 1) == datetime(2025, 3, 30, 23, 0, tzinfo=UTC)  # BST midnight
    assert LONDON.start_of_day(d + 1) - LONDON.start_of_day(d) == timedelta(hours=23)
    autumn = date(2025, 10, 26).toordinal()
    assert LONDON.start_of_day(autumn + 1) - LONDON.start_of_day(autumn) == timedelta(hours=25)


def test_start_of_day_when_midnight_does_not_exist() -> None:
    # Chile jumped from 00:00 to 01:00 on 2024-09-08: the day starts at the jump, 04:00 UTC.
    santiago = ProfilePolicy(timezone="America/Santiago")
    d = date(2024, 9, 8).toordinal()
    assert santiago.start_of_day(d) == datetime(2024, 9, 8, 4, 0, tzinfo=UTC)
    assert santiago.day_of(santiago.start_of_day(d)) == d
    assert santiago.day_of(santiago.start_of_day(d) - timedelta(microseconds=1)) == d - 1


@given(
    zone=st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
                          "Pacific/Auckland", "UTC"]),
    d=st.integers(date(2000, 1, 1).toordinal(), date(2040, 1, 1).toordinal()),
)
def test_start_of_day_is_the_first_instant_of_the_day(zone: str, d: int) -> None:
    policy = ProfilePolicy(timezone=zone)
    start = policy.start_of_day(d)
    assert start.utcoffset() == timedelta(0)
    assert policy.day_of(start) == d
    assert policy.day_of(start - timedelta(microseconds=1)) == d - 1


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        LONDON.day_of(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "kwargs",
    [{"timezone": "Mars/Olympus"}, {"retention_days": 0}, {"max_keys_per_kind": 0}, {"currency": "gbp"}],
)
def test_bad_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, LookupError)):  # a ValidationError, or an unknown time zone
        ProfilePolicy(**kwargs)  # type: ignore[arg-type]


def test_from_settings() -> None:
    settings = Settings(shop_timezone="Europe/Paris", retention_days=30, currency="EUR")
    assert ProfilePolicy.from_settings(settings) == ProfilePolicy(
        timezone="Europe/Paris", retention_days=30, currency="EUR"
    )


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.345", "GBP", 1234),  # half-even: ...4|5 rounds to even
        ("12.355", "GBP", 1236),
        ("0.005", "GBP", 0),
        ("500", "GBP", 50000),
        ("1999.5", "JPY", 2000),
        ("1.2345", "KWD", 1234),
    ],
)
def test_minor_units_round_half_even(amount: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(amount), currency) == minor
    assert LONDON.to_minor(Decimal(amount), currency) == minor


_ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham",
          "America/St_Johns", "Asia/Kathmandu", "Africa/Monrovia", "UTC", "Pacific/Kiritimati"]


@settings(max_examples=3000, deadline=None)
@given(zone=st.sampled_from(_ZONES),
       instant=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30),
                            timezones=st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/Chicago"),
                                                       timezone(timedelta(hours=5, minutes=45))])))
def test_day_of_is_exactly_astimezone(zone: str, instant: datetime) -> None:
    """The cached quarter-hour offsets give the very day ``astimezone`` gives, at every instant."""
    policy = ProfilePolicy(timezone=zone)
    assert policy.day_of(instant) == instant.astimezone(ZoneInfo(zone)).date().toordinal()


@pytest.mark.parametrize("zone", _ZONES)
def test_day_of_around_every_offset_change(zone: str) -> None:
    """Each second around each offset change of 1970-2040, in zones with odd offsets and half-hour shifts."""
    tz = ZoneInfo(zone)
    policy = ProfilePolicy(timezone=zone)
    instant = datetime(1970, 1, 2, tzinfo=UTC)
    previous = instant.astimezone(tz).utcoffset()
    while instant.year < 2040:
        instant += timedelta(hours=1)
        offset = instant.astimezone(tz).utcoffset()
        if offset != previous:
            for second in range(-3600, 3600, 7):
                moment = instant + timedelta(seconds=second, microseconds=999_999 if second % 2 else 0)
                assert policy.day_of(moment) == moment.astimezone(tz).date().toordinal()
            previous = offset


def test_day_of_refuses_a_naive_instant() -> None:
    with pytest.raises((ValueError, TypeError)):
        ProfilePolicy().day_of(datetime(2025, 1, 1))
