"""Order routes (parse, call one service, render): the organizer's CSV export and drift
report, and the support service's add-on routes. Placing, paying, reading, cancelling and
refunding orders are `checkout`'s routes (the use cases that span orders and payments)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import StreamingResponse

from admitone.auth.deps import CurrentUser, OptionalUser
from admitone.core.http import Db
from admitone.core.ids import AddonId, EventId, OrderId
from admitone.orders import addons as addon_rules
from admitone.orders import service as orders
from admitone.orders.schemas import (
    AddonCreateIn,
    AddonOut,
    AddonPatchIn,
    DriftOut,
)

api_router = APIRouter(tags=["orders"])
support_router = APIRouter(tags=["add-ons"])

OrderPath = Annotated[OrderId, Path(description="An order id (`ord_...`).")]
EventPath = Annotated[EventId, Path(description="An event id (`evt_...`).")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Same key and body: the same response (24 h)."),
]
OrderToken = Annotated[
    str | None,
    Header(alias="X-Order-Token", description="The `order_token` returned at creation."),
]
TokenQuery = Annotated[str | None, Query(max_length=100)]


@api_router.get(
    "/events/{event_id}/orders.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 403: {"description": "`capability_required`"}},
)
def export_orders(event_id: EventPath, db: Db, actor: CurrentUser) -> StreamingResponse:
    found = db.query(orders.orders_for_export, actor.user_id, event_id)
    return StreamingResponse(
        orders.csv_rows(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="orders-{event_id}.csv"'},
    )


@api_router.get(
    "/events/{event_id}/inventory/drift",
    response_model=list[DriftOut],
    summary="Stock counters that disagree with the order rows (should be empty)",
)
def inventory_drift(event_id: EventPath, db: Db, actor: CurrentUser) -> list[dict[str, Any]]:
    return db.query(orders.drift_report, actor.user_id, event_id)


# --- add-ons (support service) ------------------------------------------------------------

AddonPath = Annotated[AddonId, Path(description="An add-on id (`add_...`).")]


@support_router.post("/addons", status_code=201, response_model=AddonOut)
def create_addon(body: AddonCreateIn, db: Db, actor: CurrentUser) -> AddonOut:
    return addon_rules.addon_out(db.mutation(addon_rules.create_addon, actor.user_id, body))


@support_router.get("/addons", response_model=list[AddonOut])
def list_addons(
    db: Db,
    actor: OptionalUser,
    event_id: Annotated[EventId, Query()],
    include_inactive: bool = False,
) -> list[AddonOut]:
    found = db.query(
        addon_rules.addons_of_event,
        event_id,
        user_id=actor.user_id if actor else None,
        include_inactive=include_inactive,
    )
    return [addon_rules.addon_out(a) for a in found]


@support_router.get("/addons/{addon_id}", response_model=AddonOut)
def get_addon(addon_id: AddonPath, db: Db) -> AddonOut:
    return addon_rules.addon_out(db.query(addon_rules.public_addon, addon_id))


@support_router.patch("/addons/{addon_id}", response_model=AddonOut)
def update_addon(addon_id: AddonPath, body: AddonPatchIn, db: Db, actor: CurrentUser) -> AddonOut:
    return addon_rules.addon_out(
        db.mutation(addon_rules.update_addon, actor.user_id, addon_id, body)
    )
