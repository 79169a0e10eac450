"""Every way a transfer can be refused."""

from __future__ import annotations

from admitone.core.errors import Conflict, Invalid


class PassNotTransferable(Conflict):
    code = "pass_not_transferable"
    message = "This pass can no longer be transferred (revoked, transferred or not paid)."


class PassCheckedIn(Conflict):
    code = "pass_checked_in"
    message = "This pass was used at the door and cannot be transferred."


class TransfersClosed(Conflict):
    code = "transfers_closed"
    message = "Transfers for this event are closed."


class TransferToSameHolder(Invalid):
    code = "transfer_to_same_holder"
    message = "The pass already belongs to this person."
