"""Making the wallet files themselves, outside any transaction: the signed `.pkpass` and
the Google save link, from a loaded ticket view."""

from __future__ import annotations

from admitone.integrations.wallet import apple, google
from admitone.integrations.wallet.keys import WalletNotConfigured, apple_material, google_key
from admitone.passes import logos
from admitone.passes.pdf import Ticket
from admitone.passes.wallet.content import (
    bundled_images,
    google_class,
    google_object,
    pass_json,
)
from admitone.passes.wallet.errors import WalletUnavailable
from admitone.settings import Settings


def pkpass(settings: Settings, ticket: Ticket) -> bytes:
    try:
        material = apple_material(settings)
    except WalletNotConfigured as exc:
        raise WalletUnavailable() from exc
    images = logos.wallet_images(settings, ticket.logo_key, bundled_images)
    return apple.build_pkpass(pass_json(settings, ticket), images, material)


def google_origins(settings: Settings) -> list[str]:
    return settings.wallet.google_origins or [settings.base_url.rstrip("/")]


def google_save_url(settings: Settings, ticket: Ticket) -> str:
    try:
        key = google_key(settings)
    except WalletNotConfigured as exc:
        raise WalletUnavailable() from exc
    token = google.save_jwt(
        key,
        service_account=settings.wallet.google_service_account_email,
        origins=google_origins(settings),
        classes=[google_class(settings, ticket, ticket.event_id)],
        objects=[google_object(settings, ticket, ticket.event_id)],
    )
    return google.SAVE_URL + token
