"""One typed settings object, grouped by concern; secrets are SecretStr and never logged.

Environment variables are prefixed `ADMITONE_`; nested groups use `__`
(`ADMITONE_MAIL__TRANSPORT=smtp`). In dev, missing secrets are generated once into
`var/secrets.json`; in production the process refuses to start without them.
"""

from __future__ import annotations

import json
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "production"]
ProviderName = Literal["dev", "paystack", "stripe"]


class AuthSettings(BaseModel):
    # PEM-encoded EC P-256 private keys; the first signs, all verify (rotation).
    signing_keys: list[SecretStr] = Field(default_factory=list)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    otp_minutes: int = 10
    otp_max_attempts: int = 5
    magic_link_minutes: int = 15
    # Origins (besides `base_url`'s own, always allowed) a magic link may redirect to.
    allowed_redirect_origins: list[str] = Field(default_factory=list)
    rate_limit_storage: str = "memory://"  # redis://127.0.0.1:6379 when several processes run
    rate_limit_namespace: str = "admitone"
    google_client_ids: list[str] = Field(default_factory=list)
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    google_issuers: list[str] = Field(
        default_factory=lambda: ["https://accounts.google.com", "accounts.google.com"]
    )
    # Google Workspace domains allowed to sign in with Google, compared with the verified
    # token's `hd` claim (case-insensitive); empty = any Google account, gmail included.
    google_hosted_domains: list[str] = Field(default_factory=list)
    apple_client_ids: list[str] = Field(default_factory=list)
    apple_jwks_url: str = "https://appleid.apple.com/auth/keys"
    apple_issuer: str = "https://appleid.apple.com"
    jwt_leeway_seconds: int = 60
    # Rate limits in `limits` notation (moving window), several separated by ";".
    send_limits_per_email: str = "3 per 15 minutes; 10 per day"
    send_limits_per_ip: str = "30 per hour"
    verify_limits_per_email: str = "10 per 15 minutes"
    verify_limits_per_ip: str = "60 per 15 minutes"
    # How long one process trusts that a session it has seen live is still live; a
    # sign-out in the same process is seen at once, in others within this many seconds.
    session_check_seconds: float = 5.0
    jwks_cache_seconds: int = 3600  # when the provider's response has no max-age
    jwks_min_refetch_seconds: float = 10.0  # unknown-kid refetches, at most this often


class MailSettings(BaseModel):
    transport: Literal["devbox", "smtp", "http"] = "devbox"
    sender: str = "Admit One <no-reply@admitone.local>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    http_url: str | None = None  # a Postmark/Resend-style JSON endpoint
    http_token: SecretStr | None = None
    timeout_seconds: float = 15.0  # SMTP and HTTP transports


class PaymentSettings(BaseModel):
    providers: list[ProviderName] = Field(default_factory=lambda: list[ProviderName](["dev"]))
    default_provider: ProviderName = "dev"
    dev_webhook_secret: SecretStr | None = None
    paystack_secret_key: SecretStr | None = None
    paystack_base_url: str = "https://api.paystack.co"
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_base_url: str = "https://api.stripe.com"
    webhook_tolerance_seconds: int = 300
    # Outbound calls to providers: a buyer waits on initialize, so fail fast and clearly.
    http_timeout_seconds: float = 15.0
    http_connect_timeout_seconds: float = 5.0


class StorageSettings(BaseModel):
    # `local`: files under `var_dir/files`. `s3`: a bucket; credentials and region come from
    # boto3's usual chain (AWS_* variables, ~/.aws, an instance role), never from here.
    backend: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # MinIO, R2, ...; None: AWS

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError(
                "ADMITONE_STORAGE__BACKEND=s3 needs ADMITONE_STORAGE__S3_BUCKET "
                "(and ADMITONE_STORAGE__S3_ENDPOINT_URL for a store other than AWS)"
            )
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ADMITONE_", env_nested_delimiter="__", extra="ignore"
    )

    env: Environment = "dev"
    base_url: str = "http://127.0.0.1:8000"
    var_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under var_dir
    # Threads per process that run the hot routes' transactions (Database.run): more only
    # queue on the GIL and on row locks (bench/onsale.py, docs/performance.md). Raise it
    # when the database is far away (each thread then spends longer waiting on it).
    db_threads: int = Field(default=4, ge=1, le=64)
    secret_key: SecretStr | None = None  # HMAC key for codes, QR signing seeds, cursors
    cron_secret: SecretStr | None = None
    run_worker_in_process: bool = True
    realtime_backend: Literal["memory", "postgres"] = "memory"
    gateway_upstream: str | None = None  # None: the support service in this process
    gateway_timeout_seconds: float = 30.0
    max_body_bytes: int = 1_000_000
    # Routes that take a file (a cover image) accept this much file instead (413
    # `file_too_large` beyond it).
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "production":
            return self
        problems = []
        if self.secret_key is None:
            problems.append("ADMITONE_SECRET_KEY is not set")
        if self.cron_secret is None:
            problems.append("ADMITONE_CRON_SECRET is not set")
        if not self.auth.signing_keys:
            problems.append("ADMITONE_AUTH__SIGNING_KEYS is not set")
        if not self.database_url:
            problems.append("ADMITONE_DATABASE_URL is not set (SQLite is for development)")
        if self.mail.transport == "devbox":
            problems.append("the dev mailbox is enabled (set ADMITONE_MAIL__TRANSPORT)")
        if "dev" in self.payments.providers:
            problems.append(
                "the dev payment provider is enabled (set ADMITONE_PAYMENTS__PROVIDERS)"
            )
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'admitone.db').resolve()}"

    @property
    def secret(self) -> bytes:
        assert self.secret_key is not None, "settings were not completed (with_dev_secrets)"
        return self.secret_key.get_secret_value().encode()

    @cached_property
    def signing_keys(self) -> list[ec.EllipticCurvePrivateKey]:
        keys = []
        for pem in self.auth.signing_keys:
            key = serialization.load_pem_private_key(pem.get_secret_value().encode(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey), "signing keys must be EC P-256"
            keys.append(key)
        return keys

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"


def new_signing_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def with_dev_secrets(settings: Settings) -> Settings:
    """Fills missing secrets outside production: from `var/secrets.json`, generated once."""
    if settings.env == "production":
        return settings
    path = settings.var_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    defaults = {
        "secret_key": secrets.token_urlsafe(32),
        "cron_secret": secrets.token_urlsafe(32),
        "signing_key": new_signing_key_pem(),
        "dev_webhook_secret": secrets.token_urlsafe(32),
    }
    if any(k not in stored for k in defaults):
        stored = {**defaults, **stored}
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    update: dict[str, object] = {}
    if settings.secret_key is None:
        update["secret_key"] = SecretStr(stored["secret_key"])
    if settings.cron_secret is None:
        update["cron_secret"] = SecretStr(stored["cron_secret"])
    if not settings.auth.signing_keys:
        update["auth"] = settings.auth.model_copy(
            update={"signing_keys": [SecretStr(stored["signing_key"])]}
        )
    if settings.payments.dev_webhook_secret is None:
        update["payments"] = settings.payments.model_copy(
            update={"dev_webhook_secret": SecretStr(stored["dev_webhook_secret"])}
        )
    return settings.model_copy(update=update)


def load_settings() -> Settings:
    return with_dev_secrets(Settings())
