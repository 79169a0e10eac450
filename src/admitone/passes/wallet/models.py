"""Wallet state: Apple devices registered for a pass, and what each pass last pushed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admitone.core.db import Base, Mutable, id_column
from admitone.core.ids import PassId, WalletRegistrationId


class WalletRegistration(Mutable, Base):
    """A device (Apple's `deviceLibraryIdentifier`) that installed a pass and takes pushes
    for it at `push_token`. Registering again updates the token."""

    __tablename__ = "wallet_registrations"
    __table_args__ = (UniqueConstraint("device_id", "pass_id"),)

    id: Mapped[WalletRegistrationId] = id_column()
    device_id: Mapped[str] = mapped_column(String(200), index=True)
    pass_id: Mapped[PassId] = mapped_column(ForeignKey("passes.id"), index=True)
    push_token: Mapped[str] = mapped_column(String(200))


class WalletPass(Mutable, Base):
    """One row per pass that is in a wallet (a registered device, or a Google save link
    made): `synced_at` is the last change of the pass, its event or its tier for which
    updates were scheduled (a later change is due for a push)."""

    __tablename__ = "wallet_passes"

    pass_id: Mapped[PassId] = mapped_column(ForeignKey("passes.id"), primary_key=True)
    google_linked: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime]
