"""The `web` surface: every page module's routes, mounted at the root (not in the OpenAPI
document: pages are for people; `/api/v1` is the contract for programs)."""

from __future__ import annotations

from fastapi import APIRouter

from admitone.web.pages import (
    buy,
    docs,
    door,
    dp,
    home,
    invitations,
    mailbox,
    manage,
    moderation,
    signin,
    unsubscribe,
)

web_router = APIRouter(include_in_schema=False)
for _module in (home, signin, buy, door, invitations, docs, manage, dp, moderation, unsubscribe):
    web_router.routes.extend(_module.router.routes)

# Mounted only when ADMITONE_ENV=dev.
dev_router = mailbox.dev_router
