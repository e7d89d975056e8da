"""The shop-wide knobs that decide how events fold into a profile.

Kept apart from :mod:`pipeline.settings` so the profile model stays pure and
testable: a policy is a small frozen value the worker builds once from the
settings (:meth:`ProfilePolicy.from_settings`) and passes to every fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pipeline.settings import Settings

# ISO 4217 currencies whose minor unit is not 1/100 (everything else has two decimals).
_MINOR_DIGITS: dict[str, int] = {
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"], 0
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}


def minor_digits(currency: str) -> int:
    """Decimal places of a currency's minor unit (2 for GBP: pence), per ISO 4217."""
    return _MINOR_DIGITS.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in minor units (pence for GBP), rounded half-even like a till does."""
    scaled = amount.scaleb(minor_digits(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_BUCKET = 900  # seconds: every UTC offset change since 1970 falls on a quarter hour


class LocalDays:
    """Instant -> shop-local day ordinal, exactly as ``ts.astimezone(zone).date().toordinal()``.

    Caches the zone's UTC offset per quarter hour of UTC time, when the offset is
    the same at the first and the last second of that quarter hour; a quarter
    hour with a change inside it (none since 1970 in the tz database, but the
    code does not rely on it) is converted the slow way every time.
    """

    def __init__(self, zone: ZoneInfo, limit: int = 200_000) -> None:
        self.zone = zone
        self.limit = limit
        self._offsets: dict[int, int | None] = {}

    def _offset(self, bucket: int) -> int | None:
        start = datetime.fromtimestamp(bucket * _BUCKET, UTC).astimezone(self.zone).utcoffset()
        end = datetime.fromtimestamp(bucket * _BUCKET + _BUCKET - 1, UTC).astimezone(self.zone).utcoffset()
        if len(self._offsets) >= self.limit:
            self._offsets.clear()
        offset = int(start.total_seconds()) if start is not None and start == end else None
        self._offsets[bucket] = offset
        return offset

    def day_of(self, ts: datetime) -> int:
        if ts.tzinfo is None:
            raise ValueError("a naive datetime has no day: give a UTC offset")
        delta = ts - _EPOCH  # exact integers, where a float timestamp could round up a second
        seconds = delta.days * 86_400 + delta.seconds
        bucket = seconds // _BUCKET
        offsets = self._offsets
        offset = offsets[bucket] if bucket in offsets else self._offset(bucket)
        if offset is None:
            return ts.astimezone(self.zone).date().toordinal()
        return (seconds + offset) // 86_400 + _EPOCH_ORDINAL


_LOCAL_DAYS: dict[str, LocalDays] = {}


def _local_days(timezone: str) -> LocalDays:
    days = _LOCAL_DAYS.get(timezone)
    if days is None:
        days = _LOCAL_DAYS[timezone] = LocalDays(ZoneInfo(timezone))
    return days


@dataclass(frozen=True, slots=True)
class ProfilePolicy:
    """How a shop buckets, keeps and bounds behaviour; the same for every subject."""

    timezone: str = "Europe/London"
    """Shop time zone: behaviour is bucketed by LOCAL calendar day in this zone."""
    retention_days: int = 400
    """Behaviour, dedupe history and merge markers are kept this many days behind the
    profile's newest event day; events older than that no longer count."""
    currency: str = "GBP"
    """Shop currency: orders in other currencies are counted but kept out of spend."""
    max_keys_per_kind: int = 256
    """At most this many distinct values per (action, dimension); the value whose
    newest day is oldest is evicted first (tie: the smallest value)."""
    max_visitor_ids: int = 64
    """At most this many cookie IDs per profile (the smallest IDs are kept: a lattice,
    so the choice does not depend on event order). Only bots and shared kiosks hit it."""
    max_orders: int = 2000
    """At most this many orders in the lifetime order ledger (the newest are kept)."""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone, before any event is folded
        if self.retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        for name in ("max_keys_per_kind", "max_visitor_ids", "max_orders"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code, not {self.currency!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ProfilePolicy:
        """The policy the worker uses, from the process settings (``CG_*``)."""
        return cls(
            timezone=settings.shop_timezone,
            retention_days=settings.retention_days,
            currency=settings.currency,
        )

    @property
    def zone(self) -> ZoneInfo:
        """The shop's zone (``ZoneInfo`` caches instances, so this is cheap)."""
        return ZoneInfo(self.timezone)

    def local_date(self, ts: datetime) -> date:
        """The shop-local calendar date of an aware instant."""
        return date.fromordinal(self.day_of(ts))

    def day_of(self, ts: datetime) -> int:
        """The shop-local day ordinal (``date.toordinal()``) of an aware instant.

        The hot path of every fold (a few calls per event): the zone's offset is
        looked up once per quarter hour of UTC time (:class:`LocalDays`) instead of
        converting each instant with ``astimezone``.
        """
        return _local_days(self.timezone).day_of(ts)

    def start_of_day(self, day: int) -> datetime:
        """The UTC instant of local midnight starting ``day``.

        ``fold=0`` picks the first midnight when it repeats, and for a midnight that
        a DST jump skips it gives the instant of the jump, which is when the day starts.
        """
        local = datetime.combine(date.fromordinal(day), time(0), tzinfo=self.zone)
        return local.astimezone(UTC)

    def to_minor(self, amount: Decimal, currency: str | None = None) -> int:
        """An amount in minor units of ``currency`` (default: the shop currency)."""
        return to_minor(amount, currency or self.currency)
