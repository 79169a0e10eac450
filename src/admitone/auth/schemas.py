"""API shapes of sign-in, tokens and sessions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints, field_validator

from admitone.core.ids import UserId

Secret = Annotated[str, StringConstraints(min_length=1, max_length=200)]
IdToken = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class _Email(BaseModel):
    email: EmailStr = Field(max_length=320)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        # One address, one account: compare and store in lower case.
        return value.strip().lower()


class OtpStart(_Email):
    pass


class OtpVerify(_Email):
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] = Field(
        description="The six digits from the e-mail (spaces and dashes are ignored)."
    )

    @field_validator("code", mode="before")
    @classmethod
    def _digits(cls, value: object) -> object:
        # People paste "123 456" or "123-456"; the digits are what count.
        if isinstance(value, str) and len(value) <= 20:
            return value.replace(" ", "").replace("-", "")
        return value


class MagicLinkStart(_Email):
    redirect_url: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None,
        description="Where the link lands (an allow-listed origin); it gets `?token=`.",
    )


class MagicLinkVerify(BaseModel):
    token: Secret


class GoogleSignIn(BaseModel):
    id_token: IdToken
    nonce: Secret | None = None


class AppleSignIn(BaseModel):
    id_token: IdToken
    nonce: Secret = Field(description="The raw nonce; the token carries its SHA-256 (hex).")
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, description="Sent by Apple only on the first sign-in; kept."
    )


class RefreshRequest(BaseModel):
    refresh_token: Secret


class AppleNotification(BaseModel):
    payload: IdToken


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class SignedInUser(BaseModel):
    id: UserId
    email: str | None
    name: str | None
    email_verified: bool


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: SignedInUser
    redirect_url: str | None = None
