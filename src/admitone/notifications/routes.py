"""Notification routes: the caller's inbox and its live stream, preferences, and the
unsubscribe page a mail client or a person reaches without signing in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session
from sse_starlette import EventSourceResponse

from admitone.auth.deps import CurrentUser
from admitone.core.http import Db, Page, Paging, app_settings
from admitone.core.ids import NotificationId, OrderId
from admitone.core.realtime import stream_query
from admitone.notifications import mail_state, resend, service
from admitone.notifications.fanout import user_topic
from admitone.notifications.kinds import Channel
from admitone.notifications.schemas import (
    InboxState,
    NotificationOut,
    OrderEmailOut,
    OrderEmails,
    PreferencesIn,
    PreferencesOut,
    ReadAll,
    ResendAccepted,
    ResendIn,
    ResendVerifyIn,
    Resent,
    UnreadCount,
    preferences_out,
)

api_router = APIRouter(tags=["notifications"])

NotificationPath = Annotated[NotificationId, Path(description="A notification id (`ntf_...`).")]
_401: dict[int | str, dict[str, Any]] = {401: {"description": "Not signed in (`unauthorized`)."}}


@api_router.get("/me/notifications", response_model=Page[NotificationOut], responses=_401)
def list_notifications(
    db: Db, actor: CurrentUser, paging: Paging, unread: bool | None = None
) -> dict[str, Any]:
    """Newest first; `unread=true` only unread ones, `unread=false` only read ones."""
    items, cursor = db.query(
        service.list_notifications,
        actor.user_id,
        unread=unread,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return {"items": items, "next_cursor": cursor}


@api_router.get("/me/notifications/unread-count", response_model=UnreadCount, responses=_401)
def unread_count(db: Db, actor: CurrentUser) -> UnreadCount:
    return UnreadCount(unread=db.query(service.unread_count, actor.user_id))


def _inbox(session: Session, user_id: str) -> dict[str, Any]:
    latest, _ = service.list_notifications(session, user_id, unread=None, limit=10, cursor=None)
    return InboxState(
        unread=service.unread_count(session, user_id),
        latest=[NotificationOut.model_validate(n) for n in latest],
    ).model_dump(mode="json")


@api_router.get(
    "/me/notifications/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **_401},
)
def stream(request: Request, db: Db, actor: CurrentUser) -> EventSourceResponse:
    """Server-sent `update` events carrying `{unread, latest}` now and on every change."""
    return stream_query(
        request.app.state.broker,
        [user_topic(actor.user_id)],
        lambda: db.query(_inbox, actor.user_id),
        is_disconnected=request.is_disconnected,
    )


@api_router.post("/me/notifications/read-all", response_model=ReadAll, responses=_401)
def read_all(db: Db, actor: CurrentUser) -> ReadAll:
    return ReadAll(updated=db.mutation(service.read_all, actor.user_id))


@api_router.post(
    "/me/notifications/{notification_id}/read",
    response_model=NotificationOut,
    responses={**_401, 404: {"description": "`notification_not_found`"}},
)
def read_one(db: Db, actor: CurrentUser, notification_id: NotificationPath) -> Any:
    return db.mutation(service.read_notification, actor.user_id, notification_id)


@api_router.get("/me/notification-preferences", response_model=PreferencesOut, responses=_401)
def get_preferences(db: Db, actor: CurrentUser) -> PreferencesOut:
    return preferences_out(db.query(service.preferences, actor.user_id))


@api_router.put(
    "/me/notification-preferences",
    response_model=PreferencesOut,
    responses={**_401, 422: {"description": "`preference_locked`, `validation_error`"}},
)
def put_preferences(db: Db, actor: CurrentUser, body: PreferencesIn) -> PreferencesOut:
    choices = {
        kind: {Channel(k): v for k, v in choice.model_dump(exclude_none=True).items()}
        for kind, choice in body.preferences.items()
    }
    return preferences_out(db.mutation(service.set_preferences, actor.user_id, choices))


@api_router.get(
    "/orders/{order_id}/emails",
    response_model=OrderEmails,
    responses={
        **_401,
        403: {"description": "`capability_required`"},
        404: {"description": "`order_not_found`"},
    },
)
def order_emails(db: Db, actor: CurrentUser, order_id: Annotated[OrderId, Path()]) -> OrderEmails:
    """Each e-mail about the order and its delivery state (organizers: `order.read`)."""
    found = db.query(mail_state.order_emails, actor.user_id, order_id)
    return OrderEmails(items=[OrderEmailOut(**vars(m)) for m in found])


@api_router.post(
    "/public/orders/resend",
    status_code=202,
    response_model=ResendAccepted,
    responses={429: {"description": "`rate_limited` (with Retry-After)"}},
)
def resend_request(request: Request, db: Db, body: ResendIn) -> ResendAccepted:
    """E-mails a code to the address when it has paid orders; the same answer either way."""
    db.mutation(resend.request_code, app_settings(request), str(body.email))
    return ResendAccepted()


@api_router.post(
    "/public/orders/resend/verify",
    response_model=Resent,
    responses={422: {"description": "`invalid_code`"}},
)
def resend_verify(request: Request, db: Db, body: ResendVerifyIn) -> Resent:
    """With the right code, the confirmations of the address's paid orders go out again."""
    result = db.mutation(resend.verify_code, app_settings(request), str(body.email), body.code)
    return Resent(resent=resend.require_verified(result))
