"""Sign-in use cases: e-mail codes and magic links, sessions and refresh-token rotation,
sign-out, and Apple's account notifications.

Functions that can fail *and* must keep a write (a counted attempt, a revoked session)
return an outcome carrying the error instead of raising, so the mutation commits the write
and the route raises after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from admitone.auth.errors import (
    CodeExpired,
    InvalidCode,
    InvalidMagicLink,
    InvalidRefreshToken,
    MagicLinkExpired,
    RedirectNotAllowed,
    RefreshTokenReused,
    TooManyAttempts,
)
from admitone.auth.models import AuthAccount, AuthSession, RefreshToken, SignInCode
from admitone.auth.secrets import keyed_hash, new_otp, new_token, same
from admitone.auth.tokens import issue_access_token
from admitone.core.clock import utcnow
from admitone.core.errors import AppError
from admitone.core.ids import AuthSessionId, RefreshTokenId, SignInCodeId, UserId
from admitone.emails.service import queue_email, seal
from admitone.settings import Settings

CodeKind = Literal["otp", "magic_link"]


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# --- e-mail codes and magic links ----------------------------------------------------------


def code_hash(settings: Settings, kind: CodeKind, email: str, secret: str) -> str:
    # An OTP is bound to its address (six digits repeat across users); a magic-link token
    # is looked up by its hash alone, so it is hashed on its own.
    if kind == "otp":
        return keyed_hash(settings, "otp", email, secret)
    return keyed_hash(settings, "magic_link", secret)


def check_redirect(settings: Settings, redirect_url: str | None) -> str:
    """The redirect a magic link may carry: only to this instance's origin or an
    allow-listed one (scheme, host and port exactly), never userinfo tricks; by default the
    instance's sign-in page (`{base_url}/sign-in/link`), which completes the sign-in."""
    base = settings.base_url.rstrip("/")
    allowed = [o.rstrip("/") for o in settings.auth.allowed_redirect_origins]
    # The instance's own origin is always allowed: the link lands on its sign-in page.
    allowed.append(_origin(base))
    if redirect_url is None:
        return base + "/sign-in/link"
    try:
        parts = urlsplit(redirect_url)
        port = parts.port
    except ValueError as exc:
        raise RedirectNotAllowed() from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise RedirectNotAllowed()
    origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
    if origin.lower() not in {a.lower() for a in allowed}:
        raise RedirectNotAllowed()
    return redirect_url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"]
    query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def start_email_sign_in(
    session: Session,
    settings: Settings,
    *,
    kind: CodeKind,
    email: str,
    redirect_url: str | None = None,
) -> None:
    """Replaces any outstanding code of this kind for `email` (voiding it) and schedules
    the e-mail. Says nothing about whether an account exists."""
    now = utcnow()
    secret = new_otp() if kind == "otp" else new_token()
    minutes = settings.auth.otp_minutes if kind == "otp" else settings.auth.magic_link_minutes
    values = {
        "code_hash": code_hash(settings, kind, email, secret),
        "redirect_url": redirect_url,
        "attempts": 0,
        "expires_at": now + timedelta(minutes=minutes),
        "consumed_at": None,
        "created_at": now,
    }
    stmt = _insert(session)(SignInCode).values(
        id=SignInCodeId.new(), kind=kind, email=email, **values
    )
    session.execute(stmt.on_conflict_do_update(index_elements=["email", "kind"], set_=values))
    if kind == "otp":
        context: dict[str, Any] = {"code": secret, "minutes": minutes}
    else:
        assert redirect_url is not None
        context = {"url": _with_token(redirect_url, secret), "minutes": minutes}
    # Sealed: the job row must not hold a live code in clear.
    queue_email(
        session,
        to=email,
        template="sign_in_code" if kind == "otp" else "magic_link",
        context={"sealed": seal(settings, context)},
    )


@dataclass(frozen=True)
class CodeCheck:
    email: str | None = None
    redirect_url: str | None = None
    error: AppError | None = None


def check_otp(session: Session, settings: Settings, email: str, code: str) -> CodeCheck:
    """Counts the attempt in the code's row (a conditional update: at most
    `otp_max_attempts` ever, whatever the rate limiter did), then consumes the code if
    it matches and is still valid. Commit the result even when it carries an error."""
    max_attempts = settings.auth.otp_max_attempts
    now = utcnow()
    row = session.execute(
        update(SignInCode)
        .where(
            SignInCode.email == email,
            SignInCode.kind == "otp",
            SignInCode.consumed_at.is_(None),
            SignInCode.attempts < max_attempts,
        )
        .values(attempts=SignInCode.attempts + 1)
        .returning(SignInCode.id, SignInCode.code_hash, SignInCode.expires_at, SignInCode.attempts)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        spent = session.scalar(
            select(SignInCode.id).where(
                SignInCode.email == email,
                SignInCode.kind == "otp",
                SignInCode.consumed_at.is_(None),
                SignInCode.attempts >= max_attempts,
            )
        )
        return CodeCheck(error=TooManyAttempts() if spent else InvalidCode())
    if row.expires_at <= now:
        return CodeCheck(error=CodeExpired())
    if not same(row.code_hash, code_hash(settings, "otp", email, code)):
        left = max_attempts - row.attempts
        return CodeCheck(error=InvalidCode(attempts_left=left) if left else TooManyAttempts())
    consumed = session.execute(
        update(SignInCode)
        .where(SignInCode.id == row.id, SignInCode.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        return CodeCheck(error=InvalidCode())
    return CodeCheck(email=email)


def check_magic_link(session: Session, settings: Settings, token: str) -> CodeCheck:
    """Consumes a magic-link token once (conditional update on `consumed_at`)."""
    now = utcnow()
    digest = code_hash(settings, "magic_link", "", token)
    row = session.execute(
        update(SignInCode)
        .where(
            SignInCode.code_hash == digest,
            SignInCode.kind == "magic_link",
            SignInCode.consumed_at.is_(None),
            SignInCode.expires_at > now,
        )
        .values(consumed_at=now, attempts=SignInCode.attempts + 1)
        .returning(SignInCode.email, SignInCode.redirect_url, SignInCode.code_hash)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is not None and same(row.code_hash, digest):
        return CodeCheck(email=row.email, redirect_url=row.redirect_url)
    expired = session.scalar(
        select(SignInCode.id).where(
            SignInCode.code_hash == digest,
            SignInCode.consumed_at.is_(None),
            SignInCode.expires_at <= now,
        )
    )
    return CodeCheck(error=MagicLinkExpired() if expired else InvalidMagicLink())


# --- sessions and refresh tokens -----------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: AuthSessionId
    user_id: UserId


def _new_refresh_token(
    session: Session, settings: Settings, sid: str, parent: str | None, raw: str | None = None
) -> str:
    raw = raw or new_token()
    session.add(
        RefreshToken(
            id=RefreshTokenId.new(),
            session_id=sid,
            parent_id=parent,
            token_hash=keyed_hash(settings, "refresh", raw),
            expires_at=utcnow() + timedelta(days=settings.auth.refresh_token_days),
        )
    )
    return raw


def start_session(
    session: Session,
    settings: Settings,
    user_id: UserId,
    *,
    method: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Tokens:
    sid = AuthSessionId.new()
    now = utcnow()
    session.add(
        AuthSession(
            id=sid,
            user_id=user_id,
            method=method,
            ip=ip[:64] if ip else None,
            user_agent=user_agent[:300] if user_agent else None,
            last_used_at=now,
        )
    )
    session.flush()
    refresh = _new_refresh_token(session, settings, sid, None)
    session.flush()
    access, ttl = issue_access_token(settings, user_id, sid)
    return Tokens(access, refresh, ttl, sid, user_id)


@dataclass(frozen=True)
class RefreshOutcome:
    tokens: Tokens | None = None
    error: AppError | None = None
    revoked_session_id: str | None = None


def _revoke(session: Session, sid: str) -> None:
    now = utcnow()
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == sid, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _child_token(settings: Settings, parent_raw: str) -> str:
    """The refresh token minted from `parent_raw`: derived, not random, so a retry of the same
    rotation can be answered with the same token (it is as unguessable as its parent)."""
    return keyed_hash(settings, "refresh-child", parent_raw)


def _client_mark(settings: Settings, client: tuple[str, str] | None) -> str | None:
    return None if client is None else keyed_hash(settings, "refresh-client", "|".join(client))


def rotate_refresh_token(
    session: Session, settings: Settings, raw: str, client: tuple[str, str] | None = None
) -> RefreshOutcome:
    """Trades a refresh token for a new pair. Only one use of a token can ever win (the
    conditional update on `rotated_at`); any other use of it — a replay by whoever stole
    it, or the legitimate client after the thief — ends the whole session. One exception:
    the same `client` (address, user agent) retrying within `refresh_grace_seconds`, while
    the child it was given is still unused, gets that same child again (its answer was
    lost on a flaky network) with a fresh access token."""
    now = utcnow()
    digest = keyed_hash(settings, "refresh", raw)
    row = session.execute(
        select(
            RefreshToken.id,
            RefreshToken.rotated_at,
            RefreshToken.rotated_by,
            RefreshToken.expires_at,
            RefreshToken.token_hash,
            AuthSession.id.label("sid"),
            AuthSession.user_id,
            AuthSession.revoked_at,
        )
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == digest)
    ).one_or_none()
    if row is None or not same(row.token_hash, digest) or row.revoked_at is not None:
        return RefreshOutcome(error=InvalidRefreshToken())
    mark = _client_mark(settings, client)
    if row.rotated_at is not None:
        retried = _retry_within_grace(session, settings, row, raw, mark, now)
        if retried is not None:
            access, ttl = issue_access_token(settings, row.user_id, row.sid)
            return RefreshOutcome(tokens=Tokens(access, retried, ttl, row.sid, row.user_id))
        _revoke(session, row.sid)
        return RefreshOutcome(error=RefreshTokenReused(), revoked_session_id=row.sid)
    if row.expires_at <= now:
        return RefreshOutcome(error=InvalidRefreshToken("The refresh token has expired."))
    won = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=now, rotated_by=mark)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        _revoke(session, row.sid)
        return RefreshOutcome(error=RefreshTokenReused(), revoked_session_id=row.sid)
    refresh = _new_refresh_token(session, settings, row.sid, row.id, _child_token(settings, raw))
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == row.sid)
        .values(last_used_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    access, ttl = issue_access_token(settings, row.user_id, row.sid)
    return RefreshOutcome(tokens=Tokens(access, refresh, ttl, row.sid, row.user_id))


def _retry_within_grace(
    session: Session, settings: Settings, row: Any, raw: str, mark: str | None, now: datetime
) -> str | None:
    """The child token again, when this use is the same client's retry within the grace
    window and the child has not been used; None when it is a reuse."""
    grace = timedelta(seconds=settings.auth.refresh_grace_seconds)
    if mark is None or row.rotated_by is None or not same(mark, row.rotated_by):
        return None
    if now - row.rotated_at > grace:
        return None
    child = _child_token(settings, raw)
    unused = session.scalar(
        select(RefreshToken.id).where(
            RefreshToken.token_hash == keyed_hash(settings, "refresh", child),
            RefreshToken.parent_id == row.id,
            RefreshToken.rotated_at.is_(None),
        )
    )
    return child if unused is not None else None


def sign_out(session: Session, sid: str) -> None:
    _revoke(session, sid)


def sign_out_everywhere(session: Session, user_id: str) -> list[str]:
    """Revokes every live session of the user; returns their ids."""
    now = utcnow()
    sids = [
        str(sid)
        for sid in session.scalars(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, updated_at=now)
            .returning(AuthSession.id)
            .execution_options(synchronize_session=False)
        )
    ]
    return sids


def is_session_live(session: Session, sid: str, user_id: str) -> bool:
    revoked = session.execute(
        select(AuthSession.revoked_at).where(AuthSession.id == sid, AuthSession.user_id == user_id)
    ).one_or_none()
    return revoked is not None and revoked.revoked_at is None


# --- provider accounts ---------------------------------------------------------------------


def apply_apple_event(session: Session, subject: str, event_type: str) -> list[str]:
    """consent-revoked / account-delete: disable the Apple link and end the sessions it
    opened. Returns the revoked session ids (other types change nothing)."""
    if event_type not in ("consent-revoked", "account-delete"):
        return []
    now = utcnow()
    user_id = session.scalar(
        update(AuthAccount)
        .where(AuthAccount.provider == "apple", AuthAccount.provider_account_id == subject)
        .values(disabled_at=now, updated_at=now)
        .returning(AuthAccount.user_id)
        .execution_options(synchronize_session=False)
    )
    if user_id is None:
        return []
    return [
        str(sid)
        for sid in session.scalars(
            update(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.method == "apple",
                AuthSession.revoked_at.is_(None),
            )
            .values(revoked_at=now, updated_at=now)
            .returning(AuthSession.id)
            .execution_options(synchronize_session=False)
        )
    ]


def forget_user(session: Session, user_id: str, email: str | None) -> list[str]:
    """Account deletion, auth's part: unlink every provider identity, drop outstanding
    codes, revoke every session. Returns the revoked session ids."""
    session.execute(delete(AuthAccount).where(AuthAccount.user_id == user_id))
    if email:
        session.execute(delete(SignInCode).where(SignInCode.email == email))
    return sign_out_everywhere(session, user_id)


def purge_expired(session: Session, older_than: timedelta = timedelta(days=1)) -> int:
    """Deletes sign-in codes and refresh tokens that expired more than `older_than` ago."""
    cutoff = utcnow() - older_than
    codes = session.execute(delete(SignInCode).where(SignInCode.expires_at < cutoff))
    tokens = session.execute(delete(RefreshToken).where(RefreshToken.expires_at < cutoff))
    return int(codes.rowcount or 0) + int(tokens.rowcount or 0)  # type: ignore[attr-defined]
