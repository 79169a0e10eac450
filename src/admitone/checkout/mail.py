"""What the ticket e-mails carry, registered with `emails.extras` (made by the send job,
never by the mutation that queued the message): the order confirmation carries the order's
tickets as one PDF and buttons for the PDF and both wallets; the transferred pass e-mail
carries the pass's ticket and its Apple Wallet pass. Lives in `checkout`, above orders and
passes, so that `emails` imports neither."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from admitone.core.ids import OrderId, PassId
from admitone.emails import extras
from admitone.integrations.mail import Attachment
from admitone.integrations.wallet.apple import PKPASS_TYPE
from admitone.orders import service as orders
from admitone.passes import pdf
from admitone.passes import service as passes
from admitone.passes.errors import PassNotFound
from admitone.passes.wallet import issue
from admitone.passes.wallet.errors import WalletUnavailable
from admitone.settings import Settings

PDF = "application/pdf"


def _order_tickets(session: Session, settings: Settings, ctx: dict[str, Any]) -> list[Any]:
    order_id = ctx.get("order_id")
    if not isinstance(order_id, str):
        return []
    return pdf.tickets_for(session, settings, passes.passes_for_order(session, OrderId(order_id)))


def _pass_ticket(session: Session, settings: Settings, ctx: dict[str, Any]) -> list[Any]:
    pass_id = ctx.get("pass_id")
    if not isinstance(pass_id, str):
        return []
    try:
        return pdf.tickets_for(session, settings, [passes.get_pass(session, PassId(pass_id))])
    except PassNotFound:
        return []


def _tickets_files(template: str) -> Callable[[Settings, list[pdf.Ticket]], tuple[Attachment, ...]]:
    return lambda settings, tickets: attachments_for(settings, template, tickets)


def attachments_for(
    settings: Settings, template: str, tickets: list[pdf.Ticket]
) -> tuple[Attachment, ...]:
    """The tickets as one PDF; a transferred pass also as its Apple Wallet pass (Mail on
    iOS and macOS offers "Add to Wallet" for an attached `.pkpass`)."""
    if not tickets:
        return ()
    name = pdf.ticket_filename(tickets[0].code) if len(tickets) == 1 else "tickets.pdf"
    files = [Attachment(name, PDF, pdf.render_tickets(tickets, settings=settings))]
    if template == "pass_transferred":
        try:
            body = issue.pkpass(settings, tickets[0])
        except WalletUnavailable:
            pass  # production without Apple certificates: the PDF alone
        else:
            files.append(Attachment(f"{tickets[0].code}.pkpass", PKPASS_TYPE, body))
    return tuple(files)


def links_for(
    settings: Settings, template: str, context: dict[str, Any], tickets: list[pdf.Ticket]
) -> dict[str, Any]:
    """Buttons the order confirmation offers: the tickets PDF and, per pass, Apple Wallet
    and Google Wallet. They carry the order token (the e-mail is the buyer's credential, as
    its order link already is)."""
    order_id = context.get("order_id")
    if template != "order_confirmation" or not isinstance(order_id, str) or not tickets:
        return {}
    token = orders.order_token(settings, OrderId(order_id))
    base = settings.base_url.rstrip("/")
    return {
        "tickets_pdf_url": f"{base}/api/v1/orders/{order_id}/tickets.pdf?token={token}",
        "wallet_links": [
            {
                "code": t.code,
                "apple_url": f"{base}/support/v1/passes/{t.pass_id}/wallet.pkpass?token={token}",
                "google_url": (
                    f"{base}/support/v1/passes/{t.pass_id}/wallet/google?redirect=true&token={token}"
                ),
            }
            for t in tickets
        ],
    }


def register() -> None:
    """Registers both ticket e-mails' extras (called from `checkout/jobs.py`)."""
    extras.register(
        "order_confirmation",
        extras.Extras(
            load=_order_tickets,
            links=lambda settings, context, tickets: links_for(
                settings, "order_confirmation", context, tickets
            ),
            files=_tickets_files("order_confirmation"),
        ),
    )
    extras.register(
        "pass_transferred",
        extras.Extras(
            load=_pass_ticket,
            links=lambda settings, context, tickets: {},
            files=_tickets_files("pass_transferred"),
        ),
    )
