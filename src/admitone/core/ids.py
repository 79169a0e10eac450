"""Typed, prefixed ids: `<prefix>_<ULID>`, one prefix per table."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import ulid
from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

_ULID_RE = "[0-9A-HJKMNP-TV-Z]{26}"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of characters (10 bits): a ULID's 130 bits are 13 lookups.
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = tuple(range(120, -10, -10))
_registry: dict[str, type[PrefixedId]] = {}


def new_ulid() -> str:
    """`str(ULID())` from python-ulid's own generator (same clock, randomness and monotonic
    order within a millisecond), encoded by pairs of characters: about 60% of the CPU of
    building a `ULID` object and encoding it, paid for every id an order or a job makes."""
    generator = ulid.default_generator
    timestamp = generator.clock()
    with generator.lock:
        randomness = generator.policy.resolve_randomness(timestamp, generator.randomness_source)
    value = timestamp << 80 | int.from_bytes(randomness, "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


class PrefixedId(str):
    """A string id whose prefix names its table; the wrong prefix is a validation error."""

    prefix: ClassVar[str] = ""
    _pattern: ClassVar[re.Pattern[str]]

    def __init_subclass__(cls, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix in _registry:
            raise TypeError(f"id prefix {prefix!r} is used by {_registry[prefix].__name__}")
        cls.prefix = prefix
        cls._pattern = re.compile(rf"^{prefix}_{_ULID_RE}$")
        _registry[prefix] = cls

    @classmethod
    def new(cls) -> Self:
        return cls(f"{cls.prefix}_{new_ulid()}")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Returns the typed id, or raises ValueError naming the expected prefix."""
        if not isinstance(value, str) or not cls._pattern.match(value):
            raise ValueError(f"expected an id of the form {cls.prefix}_<26 characters>")
        return cls(value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: str) -> PrefixedId:
            if not cls._pattern.match(value):
                raise PydanticCustomError(
                    "wrong_id",
                    "expected an id of the form {prefix}_<26 characters>",
                    {"prefix": cls.prefix},
                )
            return cls(value)

        return core_schema.no_info_after_validator_function(
            validate,
            core_schema.str_schema(max_length=len(cls.prefix) + 27),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
            metadata={
                "pydantic_js_updates": {
                    "pattern": cls._pattern.pattern,
                    "examples": [f"{cls.prefix}_{'0' * 26}"],
                }
            },
        )


def id_type(prefix: str) -> type[PrefixedId]:
    """The id class registered for a prefix (for tooling and tests)."""
    return _registry[prefix]


def all_prefixes() -> dict[str, type[PrefixedId]]:
    return dict(_registry)


class UserId(PrefixedId, prefix="usr"): ...


class PlatformRoleId(PrefixedId, prefix="prl"): ...


class WorkspaceId(PrefixedId, prefix="wsp"): ...


class WorkspaceMemberId(PrefixedId, prefix="wsm"): ...


class OrganizationId(PrefixedId, prefix="org"): ...


class TeamMemberId(PrefixedId, prefix="tmm"): ...


class InvitationId(PrefixedId, prefix="inv"): ...


class EventId(PrefixedId, prefix="evt"): ...


class EventSessionId(PrefixedId, prefix="ses"): ...


class TicketTierId(PrefixedId, prefix="tir"): ...


class OrderId(PrefixedId, prefix="ord"): ...


class OrderItemId(PrefixedId, prefix="oit"): ...


class OrderEventId(PrefixedId, prefix="ohe"): ...


class AddonId(PrefixedId, prefix="add"): ...


class PaymentId(PrefixedId, prefix="pay"): ...


class RefundId(PrefixedId, prefix="rfd"): ...


class WebhookEventId(PrefixedId, prefix="whk"): ...


class PassId(PrefixedId, prefix="pas"): ...


class CheckInId(PrefixedId, prefix="chk"): ...


class CheckpointId(PrefixedId, prefix="cpt"): ...


class DpTemplateId(PrefixedId, prefix="dpt"): ...


class GeneratedDpId(PrefixedId, prefix="dpg"): ...


class NotificationId(PrefixedId, prefix="ntf"): ...


class ReleaseId(PrefixedId, prefix="rel"): ...


class JobId(PrefixedId, prefix="job"): ...


class FileId(PrefixedId, prefix="fil"): ...


class AuditEntryId(PrefixedId, prefix="aud"): ...


class AuthSessionId(PrefixedId, prefix="sid"): ...


class AuthAccountId(PrefixedId, prefix="acc"): ...


class SignInCodeId(PrefixedId, prefix="otp"): ...


class RefreshTokenId(PrefixedId, prefix="rft"): ...


class EmailDeliveryId(PrefixedId, prefix="eml"): ...


class IdempotencyKeyId(PrefixedId, prefix="idk"): ...


class InventoryDriftId(PrefixedId, prefix="ivd"): ...


class CheckInScanId(PrefixedId, prefix="scn"): ...


class DeploymentEventId(PrefixedId, prefix="dpe"): ...


class BlockedImageHashId(PrefixedId, prefix="bih"): ...


class DpCampaignId(PrefixedId, prefix="dpc"): ...


class DpBatchId(PrefixedId, prefix="dpb"): ...


class WalletRegistrationId(PrefixedId, prefix="wrg"): ...


class BadgeRunId(PrefixedId, prefix="bdr"): ...


class BadgePrintId(PrefixedId, prefix="bdp"): ...


class NotificationPreferenceId(PrefixedId, prefix="nfp"): ...


class WebhookEndpointId(PrefixedId, prefix="whe"): ...


class WebhookMessageId(PrefixedId, prefix="msg"): ...


class WebhookDeliveryId(PrefixedId, prefix="whd"): ...


class ResendCodeId(PrefixedId, prefix="rsc"): ...


class DpReportId(PrefixedId, prefix="dpr"): ...
