"""One typed settings object, grouped by concern; secrets are SecretStr and never logged.

Environment variables are prefixed `ADMITONE_`; nested groups use `__`
(`ADMITONE_MAIL__TRANSPORT=smtp`). In dev, missing secrets are generated once into
`var/secrets.json`; in production the process refuses to start without them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "production"]
ProviderName = Literal["dev", "paystack", "stripe"]
ImageCheckName = Literal["hash_blocklist", "classifier"]


class AuthSettings(BaseModel):
    # PEM-encoded EC P-256 private keys; the first signs, all verify (rotation).
    signing_keys: list[SecretStr] = Field(default_factory=list)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # A client that lost the answer to its refresh and retries with the same token, from the
    # same address and user agent within this many seconds, gets the same new refresh
    # token; any other reuse ends the session.
    refresh_grace_seconds: int = Field(default=30, ge=0, le=300)
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


class NotifySettings(BaseModel):
    """Notifications and outgoing webhooks."""

    # Recipients resolved and inserted per fan-out job (one transaction each).
    fanout_page: int = Field(default=1000, ge=1, le=10_000)
    # Dev only: webhook targets on loopback addresses (a receiver on this machine).
    allow_local_webhook_targets: bool = True
    webhook_connect_timeout_seconds: float = 3.0
    webhook_timeout_seconds: float = 10.0
    webhook_retry_hours: float = 72.0  # give up on a delivery after this long
    webhook_disable_after_hours: float = 120.0  # an endpoint failing this long is disabled


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


class ReleaseSettings(BaseModel):
    # The secret in Railway's webhook URL (/hooks/railway/<secret>): Railway signs nothing,
    # so the URL is the credential. Generated into var/secrets.json in dev.
    railway_webhook_secret: SecretStr | None = None
    # With a project token, every deployment event is re-checked through Railway's API
    # before its status is trusted.
    railway_project_token: SecretStr | None = None
    railway_api_url: str = "https://backboard.railway.com/graphql/v2"
    railway_api_timeout_seconds: float = 10.0


class FetchSettings(BaseModel):
    """Fetching user-supplied URLs (`integrations/fetch.py`: DP batch photos, webhooks)."""

    # Plain http:// and non-public networks (CIDRs, e.g. ["127.0.0.0/8"]): honoured only
    # outside production (tests serve from 127.0.0.1); production fetches public HTTPS only.
    allow_http: bool = False
    allow_networks: list[str] = Field(default_factory=list)
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=10.0, gt=0)
    total_timeout_seconds: float = Field(default=30.0, gt=0)
    max_redirects: int = Field(default=3, ge=0, le=10)


class ModerationSettings(BaseModel):
    """DP safety checks (`integrations/moderation/`, docs/moderation.md)."""

    image_checks: list[ImageCheckName] = Field(
        default_factory=lambda: list[ImageCheckName](["hash_blocklist", "classifier"])
    )
    text_check: bool = True
    # Word lists in integrations/moderation/wordlists/<lang>.txt
    text_languages: list[str] = Field(default_factory=lambda: ["en", "fr", "es"])
    # pHash block-list: an image within this many bits (of 64) of a blocked one matches.
    hash_max_distance: int = Field(default=6, ge=0, le=32)
    # How often a process asks whether another process changed the block-list.
    blocklist_check_seconds: float = Field(default=2.0, ge=0)
    # NudeNet (the `moderation` extra): sensitive labels at these scores go to review/block.
    classifier_review_score: float = Field(default=0.45, ge=0, le=1)
    classifier_block_score: float = Field(default=0.85, ge=0, le=1)
    # The side NudeNet letterboxes an image to: 320 is what its model was trained at; 256
    # costs ~40% less inference CPU (docs/performance.md) and was not measured for accuracy.
    classifier_input_side: int = Field(default=320, ge=160, le=640, multiple_of=32)
    # Without the extra, images are marked `classifier_unavailable`; with this set they
    # also go to review instead of being allowed by the other checks alone.
    require_classifier: bool = False
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    fetch: FetchSettings = Field(default_factory=FetchSettings)


class DpSettings(BaseModel):
    # The generate route's upload limit (a phone's photo; 413 `file_too_large` beyond it) and
    # the pixel limit checked from the header before decoding (422 `image_too_large`).
    max_upload_bytes: int = Field(default=15 * 1024 * 1024, ge=1)
    max_photo_pixels: int = Field(default=50_000_000, ge=1)
    # Frames an organizer uploads.
    max_frame_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    # Page views, downloads and shares are counted in memory and written at most this often
    # per process (docs/dp.md).
    counters_flush_seconds: float = Field(default=10.0, ge=0)
    # Open reports that take a public DP out of public view until a moderator decides.
    reports_to_hide: int = Field(default=3, ge=1)
    # Reports (`POST /api/v1/public/dps/{id}/report`), `limits` notation, moving windows.
    report_limits_per_ip: str = "5/minute;30/day"
    report_limits_per_user: str = "5/minute;30/day"
    # Batches (docs/dp.md "Batches"): the CSV and the zip of photos an organizer uploads,
    # the rows one CSV may hold (more: 422 `too_many_rows`), the zip's limits once
    # uncompressed, the rows a worker claims at a time (and the lease it holds them for),
    # and how many workers may join one batch at once.
    batch_max_csv_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    batch_max_zip_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    batch_max_rows: int = Field(default=10_000, ge=1)
    batch_max_unzipped_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    batch_chunk_rows: int = Field(default=16, ge=1, le=500)
    batch_lease_seconds: float = Field(default=300.0, gt=0)
    batch_max_lanes: int = Field(default=8, ge=1, le=64)
    # A finished batch's files (its zip of photos and rendered pictures) are deleted this
    # long after it finished (cron `dp.batch.purge`); its rows and counts stay.
    batch_retention_days: float = Field(default=30.0, gt=0)


class WalletSettings(BaseModel):
    """Apple Wallet and Google Wallet. Unset certificates and keys: in dev and test a local
    chain and key are generated once under `var_dir/wallet/` (passes verify with OpenSSL
    but iOS refuses them); in production the wallet routes answer 503."""

    apple_pass_type_id: str = "pass.dev.admitone.ticket"
    apple_team_id: str = "ADMITONE01"
    apple_certificate: str | None = None  # PEM: the Pass Type ID certificate
    apple_key: SecretStr | None = None  # PEM: its private key
    apple_key_password: SecretStr | None = None
    apple_wwdr_certificate: str | None = None  # PEM: the WWDR intermediate that issued it
    apns_url: str = "https://api.push.apple.com"
    apns_ca_file: str | None = None  # a CA bundle for APNs (tests: the local stand-in's)
    google_issuer_id: str = "3388000000000000000"
    google_service_account_email: str = "admitone-dev@admitone-dev.iam.gserviceaccount.com"
    google_private_key: SecretStr | None = None  # PEM: the service account's RSA key
    google_api_url: str = "https://walletobjects.googleapis.com/walletobjects/v1"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_origins: list[str] = Field(default_factory=list)  # empty: [base_url]
    http_timeout_seconds: float = 10.0


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
    # Per caller through the mobile gateway (`limits` notation; the storage is
    # ADMITONE_AUTH__RATE_LIMIT_STORAGE, shared with sign-in).
    gateway_limits_per_user: str = "300 per minute"
    gateway_limits_per_ip: str = "600 per minute"
    max_body_bytes: int = 1_000_000
    # Routes that take a file (a cover image) accept this much file instead (413
    # `file_too_large` beyond it).
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    # Browser origins (web and mobile web apps) allowed to call the API with credentials;
    # exact origins only: a wildcard with credentials would let any site act as the user.
    cors_origins: list[str] = Field(default_factory=list)
    # Strict-Transport-Security max-age outside dev (0: no HSTS header).
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    releases: ReleaseSettings = Field(default_factory=ReleaseSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    dp: DpSettings = Field(default_factory=DpSettings)
    wallet: WalletSettings = Field(default_factory=WalletSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "production":
            return self
        problems = [f"{p.setting}: {p.message}" for p in production_problems(self) if p.blocking]
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


@dataclass(frozen=True)
class ConfigProblem:
    """A setting production needs: `blocking` ones refuse start-up, others are warnings."""

    setting: str
    message: str
    blocking: bool = True


def production_problems(settings: Settings) -> list[ConfigProblem]:
    """Every missing or unsafe setting for production, as if `settings` were production's
    (the start-up check and `admitone check-config` share this list)."""
    found: list[ConfigProblem] = []

    def need(setting: str, message: str, blocking: bool = True) -> None:
        found.append(ConfigProblem(setting, message, blocking))

    if settings.secret_key is None:
        need("ADMITONE_SECRET_KEY", "not set")
    elif len(settings.secret_key.get_secret_value()) < 32:
        need("ADMITONE_SECRET_KEY", "shorter than 32 characters")
    if settings.cron_secret is None:
        need("ADMITONE_CRON_SECRET", "not set")
    if not settings.auth.signing_keys:
        need("ADMITONE_AUTH__SIGNING_KEYS", "not set")
    if not settings.database_url:
        need(
            "ADMITONE_DATABASE_URL", "ADMITONE_DATABASE_URL is not set (SQLite is for development)"
        )
    elif settings.database_url.startswith("sqlite"):
        need("ADMITONE_DATABASE_URL", "SQLite (use PostgreSQL)")
    if settings.mail.transport == "devbox":
        need(
            "ADMITONE_MAIL__TRANSPORT", "the dev mailbox is enabled (set ADMITONE_MAIL__TRANSPORT)"
        )
    if "dev" in settings.payments.providers:
        need(
            "ADMITONE_PAYMENTS__PROVIDERS",
            "the dev payment provider is enabled (set ADMITONE_PAYMENTS__PROVIDERS)",
        )
    if "paystack" in settings.payments.providers and settings.payments.paystack_secret_key is None:
        need("ADMITONE_PAYMENTS__PAYSTACK_SECRET_KEY", "Paystack is enabled without its secret key")
    if "stripe" in settings.payments.providers and (
        settings.payments.stripe_secret_key is None
        or settings.payments.stripe_webhook_secret is None
    ):
        need(
            "ADMITONE_PAYMENTS__STRIPE_SECRET_KEY",
            "Stripe is enabled without its secret key and webhook secret",
        )
    if "*" in settings.cors_origins:
        need("ADMITONE_CORS_ORIGINS", "CORS allows every origin ('*'): list the exact origins")
    if not settings.base_url.startswith("https://"):
        need(
            "ADMITONE_BASE_URL",
            f"{settings.base_url!r}: links in e-mails need the public https address",
        )
    # Warnings: safe for one process, wrong once there are several.
    if settings.storage.backend == "local":
        need(
            "ADMITONE_STORAGE__BACKEND",
            "files are stored on the local disk; with several processes or machines use s3",
            blocking=False,
        )
    if settings.auth.rate_limit_storage.startswith("memory"):
        need(
            "ADMITONE_AUTH__RATE_LIMIT_STORAGE",
            "rate limits are counted per process (memory://); use redis:// with several",
            blocking=False,
        )
    if settings.realtime_backend == "memory":
        need(
            "ADMITONE_REALTIME_BACKEND",
            "live updates reach only this process's listeners; use postgres with several",
            blocking=False,
        )
    return found


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
        "railway_webhook_secret": secrets.token_urlsafe(32),
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
    if settings.releases.railway_webhook_secret is None:
        update["releases"] = settings.releases.model_copy(
            update={"railway_webhook_secret": SecretStr(stored["railway_webhook_secret"])}
        )
    return settings.model_copy(update=update)


def load_settings() -> Settings:
    return with_dev_secrets(Settings())
