"""The one place the pages place an order: the code behind `POST /api/v1/orders` (the
same rules, limits, reservation and checkout start), called with the page's buyer.

It calls the API route's function for now; when order placement moves into a `checkout`
domain service, this module calls that service instead and nothing else in the pages
changes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from admitone.auth.deps import Actor
from admitone.core.db import Database
from admitone.orders import routes as order_routes
from admitone.orders.schemas import OrderIn


async def place_order(
    request: Request, db: Database, body: OrderIn, actor: Actor | None
) -> dict[str, Any]:
    """The placed order's view (`id`, `order_token`, `payment.checkout_url`, ...); raises
    the domain's errors (`tier_sold_out`, `limit_exceeded`, ...) as the API does."""
    response = await order_routes.place_order(body, request, db, actor, None)
    view: dict[str, Any] = json.loads(bytes(response.body))
    return view
