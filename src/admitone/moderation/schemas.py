from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from admitone.core.ids import BlockedImageHashId
from admitone.integrations.moderation import Decision, Verdict
from admitone.moderation.models import BlockedImageHash, BlockSource


class TextCheckIn(BaseModel):
    text: str = Field(max_length=2000, description="A name, a title, a caption.")


class VerdictOut(BaseModel):
    verdict: Decision
    reasons: list[str] = Field(
        description="Stable codes: `image_blocklisted`, `nudity`, `possible_nudity`, "
        "`blocked_word`, `review_word`, `classifier_unavailable`."
    )
    skipped: list[str] = Field(
        default_factory=list, description="Checks that could not run (`classifier`)."
    )

    @classmethod
    def of(cls, v: Verdict) -> VerdictOut:
        return cls(verdict=v.decision, reasons=list(v.reasons), skipped=list(v.skipped))


class BlockedImageOut(BaseModel):
    id: BlockedImageHashId
    hash: str = Field(description="The 64-bit pHash, 16 hex digits.")
    source: BlockSource
    source_id: str | None
    reason: str | None
    created_at: datetime
    created: bool = Field(description="False when the hash was already blocked.")

    @classmethod
    def of(cls, entry: BlockedImageHash, created: bool) -> BlockedImageOut:
        return cls(
            id=entry.id,
            hash=f"{entry.hash & 0xFFFF_FFFF_FFFF_FFFF:016x}",
            source=entry.source,
            source_id=entry.source_id,
            reason=entry.reason,
            created_at=entry.created_at,
            created=created,
        )
