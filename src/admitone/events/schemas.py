"""API shapes of events, sessions and ticket tiers (organizer and public views)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AnyUrl,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    UrlConstraints,
    computed_field,
    model_validator,
)

from admitone.core.ids import (
    EventId,
    EventSessionId,
    FileId,
    OrganizationId,
    TicketTierId,
)
from admitone.events.timezones import declare_zone_names

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=80, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
]
# Validated against the IANA database by the service, so the error carries its own code.
TimezoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(json_schema_extra=declare_zone_names),
]


def _integral(value: Any) -> Any:
    """JSON `5.0` is the integer 5 (JSON Schema counts it as one, and the document declares
    these fields `integer`): accepted. `5.5`, `"5"` and `true` are still refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A whole number: strict (no strings, no booleans), integral floats accepted (above). The
# bounds go before `Strict()` and the validator, or the schema says `ge`/`le` instead of
# `minimum`/`maximum`.
WHOLE = BeforeValidator(_integral)
# The document says what the server takes: http(s) only (format "uri" alone admits any scheme).
OnlineUrl = Annotated[
    AnyUrl,
    UrlConstraints(max_length=500, allowed_schemes=["http", "https"]),
    Field(json_schema_extra={"pattern": r"^\s*[Hh][Tt][Tt][Pp][Ss]?://"}),
]
AccessCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=64)]
Visibility = Literal["public", "unlisted", "private"]
Capacity = Annotated[int, Field(ge=1, le=1_000_000), Strict(), WHOLE]
PerOrder = Annotated[int, Field(ge=1, le=100), Strict(), WHOLE]
ReservationMinutes = Annotated[int, Field(ge=1, le=1440), Strict(), WHOLE]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Fields that may be omitted from a PATCH but never set to null.
    not_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _refuse_nulls(self) -> Self:
        for name in self.not_null:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class Money(BaseModel):
    """Integer minor units and an ISO 4217 code: `{"amount": 150000, "currency": "NGN"}`."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, Field(ge=0, le=10**12), Strict(), WHOLE]
    currency: Annotated[
        str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=8)
    ]


class Venue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Title
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class EventCreate(_Body):
    title: Title
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    timezone: TimezoneName
    slug: Slug | None = None
    description: Description | None = None
    visibility: Visibility = "public"
    venue: Venue | None = None
    online_url: OnlineUrl | None = None
    cover_file_id: FileId | None = None
    reservation_minutes: ReservationMinutes = 15


class EventUpdate(_Body):
    not_null = (
        "title",
        "starts_at",
        "ends_at",
        "timezone",
        "slug",
        "visibility",
        "reservation_minutes",
    )

    title: Title | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    timezone: TimezoneName | None = None
    slug: Slug | None = None
    description: Description | None = None
    visibility: Visibility | None = None
    venue: Venue | None = None
    online_url: OnlineUrl | None = None
    cover_file_id: FileId | None = None
    reservation_minutes: ReservationMinutes | None = None


class EventOut(BaseModel):
    id: EventId
    organization_id: OrganizationId
    slug: str
    title: str
    description: str | None
    status: Literal["draft", "published", "cancelled", "ended"]
    visibility: Visibility
    timezone: str
    starts_at: datetime
    ends_at: datetime
    venue: Venue | None
    online_url: str | None
    cover_file_id: FileId | None
    reservation_minutes: int
    currency: str | None
    published_at: datetime | None
    cancelled_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cover_url(self) -> str | None:
        """The cover image for the organizer (`event.read`, any status); null without one."""
        return f"/api/v1/events/{self.id}/cover" if self.cover_file_id else None

    @classmethod
    def of(cls, event: Any) -> EventOut:
        return cls(
            id=event.id,
            organization_id=event.organization_id,
            slug=event.slug,
            title=event.title,
            description=event.description,
            status=event.status,
            visibility=event.visibility,
            timezone=event.timezone,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            venue=_venue(event),
            online_url=event.online_url,
            cover_file_id=event.cover_file_id,
            reservation_minutes=event.reservation_minutes,
            currency=event.currency,
            published_at=event.published_at,
            cancelled_at=event.cancelled_at,
            ended_at=event.ended_at,
            created_at=event.created_at,
            updated_at=event.updated_at,
        )


def _venue(event: Any) -> Venue | None:
    if event.venue_name is None:
        return None
    return Venue(name=event.venue_name, address=event.venue_address)


class SessionCreate(_Body):
    title: Title
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    location: Title | None = None


class SessionUpdate(_Body):
    not_null = ("title", "starts_at", "ends_at")

    title: Title | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    location: Title | None = None


class SessionOut(BaseModel):
    id: EventSessionId
    event_id: EventId
    title: str
    starts_at: datetime
    ends_at: datetime
    location: str | None

    @classmethod
    def of(cls, row: Any) -> SessionOut:
        return cls(
            id=row.id,
            event_id=row.event_id,
            title=row.title,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            location=row.location,
        )


class TierCreate(_Body):
    name: Name
    price: Money
    capacity: Capacity
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    sales_start_at: AwareDatetime | None = None
    sales_end_at: AwareDatetime | None = None
    min_per_order: PerOrder = 1
    max_per_order: PerOrder = 10
    is_hidden: bool = False
    access_code: AccessCode | None = None
    is_paused: bool = False
    position: Annotated[int, Field(ge=0, le=10_000), Strict(), WHOLE] = 0
    session_ids: Annotated[list[EventSessionId], Field(max_length=100)] = []


class TierUpdate(_Body):
    not_null = (
        "name",
        "price",
        "capacity",
        "min_per_order",
        "max_per_order",
        "is_hidden",
        "is_paused",
        "position",
        "session_ids",
    )

    name: Name | None = None
    price: Money | None = None
    capacity: Capacity | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    sales_start_at: AwareDatetime | None = None
    sales_end_at: AwareDatetime | None = None
    min_per_order: PerOrder | None = None
    max_per_order: PerOrder | None = None
    is_hidden: bool | None = None
    access_code: AccessCode | None = None
    is_paused: bool | None = None
    position: Annotated[int, Field(ge=0, le=10_000), Strict(), WHOLE] | None = None
    session_ids: Annotated[list[EventSessionId], Field(max_length=100)] | None = None


class TierOut(BaseModel):
    id: TicketTierId
    event_id: EventId
    name: str
    description: str | None
    price: Money
    capacity: int
    held_count: int
    sold_count: int
    available: int
    sales_start_at: datetime | None
    sales_end_at: datetime | None
    min_per_order: int
    max_per_order: int
    is_hidden: bool
    has_access_code: bool
    is_paused: bool
    position: int
    session_ids: list[EventSessionId]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tier: Any, session_ids: list[str]) -> TierOut:
        return cls(
            id=tier.id,
            event_id=tier.event_id,
            name=tier.name,
            description=tier.description,
            price=Money(amount=tier.price_amount, currency=tier.currency),
            capacity=tier.capacity,
            held_count=tier.held_count,
            sold_count=tier.sold_count,
            available=max(0, tier.capacity - tier.held_count - tier.sold_count),
            sales_start_at=tier.sales_start_at,
            sales_end_at=tier.sales_end_at,
            min_per_order=tier.min_per_order,
            max_per_order=tier.max_per_order,
            is_hidden=tier.is_hidden,
            has_access_code=tier.access_code_hash is not None,
            is_paused=tier.is_paused,
            position=tier.position,
            session_ids=[EventSessionId(s) for s in session_ids],
            created_at=tier.created_at,
            updated_at=tier.updated_at,
        )


class PublicTierOut(BaseModel):
    id: TicketTierId
    name: str
    description: str | None
    price: Money
    available: int
    is_sold_out: bool
    min_per_order: int
    max_per_order: int
    sales_end_at: datetime | None
    session_ids: list[EventSessionId]


class PublicOrganizer(BaseModel):
    id: OrganizationId
    name: str


class PublicEventOut(BaseModel):
    id: EventId
    slug: str
    title: str
    description: str | None
    status: Literal["published", "cancelled", "ended"]
    timezone: str
    starts_at: datetime
    ends_at: datetime
    venue: Venue | None
    online_url: str | None
    cover_file_id: FileId | None
    currency: str | None
    organizer: PublicOrganizer
    sessions: list[SessionOut]
    tiers: list[PublicTierOut]
    # None when no access code was given; else whether it unlocked at least one hidden tier.
    access_code_accepted: bool | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cover_url(self) -> str | None:
        """The cover image, served without sign-in; null without one."""
        return f"/api/v1/public/events/{self.slug}/cover" if self.cover_file_id else None


class PublicEventSummary(BaseModel):
    """One entry of the public list: enough for a card; the event page has the rest."""

    id: EventId
    slug: str
    title: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    venue: Venue | None
    is_online: bool
    organizer: PublicOrganizer
    currency: str | None
    # The cheapest visible tier on sale now with seats left; None when nothing can be bought.
    lowest_price: Money | None
    cover_url: str | None = None  # served without sign-in; null without a cover
