"""The event contract: everything the storefront and the shop's staff tools send.

One discriminated union (on ``type``) so that a single ``validate_json`` call
decodes any event. Models ignore unknown fields so that a storefront on a newer
contract version never crashes an older worker; ``schema_version`` says which
version the sender wrote, and a version newer than this worker knows is
accepted as long as the fields this version needs are valid.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

from schemas.identifiers import TEXT_PATTERN, GroupId, Identifier

SCHEMA_VERSION = 1

#: The instants and dates an event may carry. Outside them no storefront clock
#: is right, and date arithmetic (retention windows, time zones) would overflow.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)


def _iso_text(value: Any) -> Any:
    """Times are ISO 8601 text: a bare number (epoch seconds? milliseconds?) is refused, not guessed."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("must be ISO 8601 text with a UTC offset, e.g. 2025-11-20T10:15:00+00:00, not a number")
    return value


def _in_time_range(value: datetime) -> datetime:
    if EARLIEST_TIME.year < value.year < LATEST_TIME.year - 1:
        return value  # surely inside (offsets are under a day): skips two aware comparisons, ~1 µs an event
    if not EARLIEST_TIME <= value < LATEST_TIME:
        raise ValueError(f"must be from {EARLIEST_TIME.date()} up to {LATEST_TIME.date()} (UTC)")
    return value


def _in_date_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be from {EARLIEST_DATE} to {LATEST_DATE}")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_time_range)]
Day = Annotated[date, BeforeValidator(_iso_text), AfterValidator(_in_date_range)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
Name = Annotated[str, Field(max_length=100, pattern=TEXT_PATTERN)]
#: A group named by its ID or its name (a public group in a signup).
GroupRef = Annotated[str, Field(min_length=1, max_length=120, pattern=TEXT_PATTERN)]
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class Product(_Model):
    """What the rules need to know of a product at the moment of the event."""

    product_id: Identifier
    brand: ShortText | None = None
    category: ShortText | None = None
    price: Money | None = None


class _Event(_Model):
    # at most an int64: a JSON number orjson reads, so both ways of decoding agree (schemas.decode)
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=2**63 - 1)
    event_id: Identifier = Field(description="Unique per event; a re-sent event keeps its ID.")
    occurred_at: Instant = Field(description="When it happened, with a UTC offset.")
    visitor_id: Identifier | None = Field(default=None, description="The cookie visitor ID.")
    customer_id: Identifier | None = Field(default=None, description="Set when logged in.")

    @model_validator(mode="after")
    def _has_subject(self) -> _Event:
        if self.visitor_id is None and self.customer_id is None:
            raise ValueError("visitor_id or customer_id is required")
        return self


class _CustomerEvent(_Event):
    """Events about a registered customer: the customer ID is required."""

    customer_id: Identifier


# --- storefront behaviour ------------------------------------------------


class ViewEvent(_Event):
    type: Literal["view"]
    product: Product


class SearchEvent(_Event):
    type: Literal["search"]
    query: Annotated[str, Field(min_length=1, max_length=500, pattern=TEXT_PATTERN)]
    brand: ShortText | None = Field(default=None, description="Brand facet, if one was chosen.")
    category: ShortText | None = Field(default=None, description="Category facet, if chosen.")


class BasketEvent(_Event):
    type: Literal["basket"]
    action: Literal["add", "remove"]
    product: Product
    quantity: int = Field(default=1, ge=1, le=100_000)


class WishlistEvent(_Event):
    type: Literal["wishlist"]
    action: Literal["add", "remove"]
    product: Product


class OrderLine(_Model):
    product: Product
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Money


class OrderEvent(_Event):
    type: Literal["order"]
    order_id: Identifier
    lines: list[OrderLine] = Field(min_length=1, max_length=1000)
    total: Money
    currency: CurrencyCode


class SignupEvent(_CustomerEvent):
    type: Literal["signup"]
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
    first_name: Name | None = None
    last_name: Name | None = None
    date_joined: Day | None = Field(
        default=None, description="Defaults to the day of occurred_at in the shop's time zone."
    )
    public_groups: list[GroupRef] = Field(
        default_factory=list, max_length=100,
        description="Public groups ticked on the registration form, each by ID or by name.",
    )


# --- identity, consent, staff, GDPR --------------------------------------


class IdentifyEvent(_CustomerEvent):
    """A visitor logged in (or was otherwise recognised) as a customer."""

    type: Literal["identify"]
    visitor_id: Identifier
    method: Literal["login", "signup", "checkout", "other"] = "login"


ConsentSource = Literal["registration", "account", "cms", "pos"]
StaffSource = Literal["cms", "pos"]


class ConsentEvent(_CustomerEvent):
    """A customer opted in to (or out of) a public group."""

    type: Literal["consent"]
    group_id: GroupId
    granted: bool
    source: ConsentSource
    staff_id: Identifier | None = Field(
        default=None, description="Who recorded it, when given in the CMS or at the till."
    )


class StaffMembershipEvent(_CustomerEvent):
    """Staff added or removed a customer to/from a private group."""

    type: Literal["staff_membership"]
    group_id: GroupId
    action: Literal["add", "remove"]
    source: StaffSource
    staff_id: Identifier


class CustomerUpdatedEvent(_CustomerEvent):
    type: Literal["customer_updated"]
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None


class ErasureEvent(_CustomerEvent):
    """GDPR erasure: forget the customer's profile, memberships and consents."""

    type: Literal["erasure"]
    requested_by: Identifier


Event = Annotated[
    ViewEvent | SearchEvent | BasketEvent | WishlistEvent | OrderEvent | SignupEvent | IdentifyEvent
    | ConsentEvent | StaffMembershipEvent | CustomerUpdatedEvent | ErasureEvent,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

STOREFRONT_EVENT_TYPES = frozenset({"view", "search", "basket", "wishlist", "order", "signup"})
EVENT_TYPES = STOREFRONT_EVENT_TYPES | {
    "identify", "consent", "staff_membership", "customer_updated", "erasure"}
