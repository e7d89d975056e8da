"""The event contract: everything the storefront and the shop's staff tools send.

One discriminated union (on ``type``) so that a single ``validate_json`` call
decodes any event. Models ignore unknown fields so that a storefront on a newer
contract version never crashes an older worker; ``schema_version`` says which
version the sender wrote, and a version newer than this worker knows is
accepted as long as the fields this version needs are valid.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)

SCHEMA_VERSION = 1

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s]+$")]
GroupId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class Product(_Model):
    """What the rules need to know of a product at the moment of the event."""

    product_id: Identifier
    brand: ShortText | None = None
    category: ShortText | None = None
    price: Money | None = None


class _Event(_Model):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    event_id: Identifier = Field(description="Unique per event; a re-sent event keeps its ID.")
    occurred_at: AwareDatetime = Field(description="When it happened, with a UTC offset.")
    visitor_id: Identifier | None = Field(default=None, description="The cookie visitor ID.")
    customer_id: Identifier | None = Field(default=None, description="Set when logged in.")

    @model_validator(mode="after")
    def _has_subject(self) -> "_Event":
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
    query: Annotated[str, Field(min_length=1, max_length=500)]
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
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    first_name: Annotated[str, Field(max_length=100)] | None = None
    last_name: Annotated[str, Field(max_length=100)] | None = None
    date_joined: date | None = Field(
        default=None, description="Defaults to the day of occurred_at in the shop's time zone."
    )
    public_groups: list[GroupId] = Field(
        default_factory=list, description="Public groups ticked on the registration form."
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
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    first_name: Annotated[str, Field(max_length=100)] | None = None
    last_name: Annotated[str, Field(max_length=100)] | None = None


class ErasureEvent(_CustomerEvent):
    """GDPR erasure: forget the customer's profile, memberships and consents."""

    type: Literal["erasure"]
    requested_by: Identifier


Event = Annotated[
    Union[
        ViewEvent,
        SearchEvent,
        BasketEvent,
        WishlistEvent,
        OrderEvent,
        SignupEvent,
        IdentifyEvent,
        ConsentEvent,
        StaffMembershipEvent,
        CustomerUpdatedEvent,
        ErasureEvent,
    ],
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

STOREFRONT_EVENT_TYPES = frozenset({"view", "search", "basket", "wishlist", "order", "signup"})
EVENT_TYPES = STOREFRONT_EVENT_TYPES | {
    "identify", "consent", "staff_membership", "customer_updated", "erasure"}
