"""Security headers on every surface, CORS from settings, and `check-config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from admitone.app import create_app
from admitone.cli import app as cli
from admitone.core.db import Database
from admitone.settings import Settings, production_problems


def test_every_surface_sends_nosniff_and_a_referrer_policy(client: TestClient) -> None:
    for path in ("/health", "/api/v1/public/events", "/support/v1/addons?event_id=x", "/"):
        resp = client.get(path)
        assert resp.headers["x-content-type-options"] == "nosniff", path
        assert resp.headers["referrer-policy"] == "strict-origin-when-cross-origin", path
        assert "strict-transport-security" not in resp.headers  # dev: plain http


def test_a_refusal_from_the_body_limit_carries_the_headers_too(client: TestClient) -> None:
    resp = client.post(
        "/api/v1/auth/otp/start",
        content=b"x" * 2_000_000,
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_hsts_outside_dev(settings: Settings, db: Database) -> None:
    prod_like = settings.model_copy(update={"env": "test", "hsts_seconds": 600})
    with TestClient(create_app(prod_like, db, run_worker=False)) as client:
        hsts = client.get("/health").headers["strict-transport-security"]
    assert hsts == "max-age=600; includeSubDomains"


def test_pages_keep_their_own_policy(client: TestClient) -> None:
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_cors_answers_only_the_configured_origins(settings: Settings, db: Database) -> None:
    allowed = "https://app.example.com"
    configured = settings.model_copy(update={"cors_origins": [allowed]})
    with TestClient(create_app(configured, db, run_worker=False)) as client:
        preflight = client.options(
            "/api/v1/me",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert preflight.headers["access-control-allow-credentials"] == "true"
        other = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_without_configured_origins(client: TestClient) -> None:
    resp = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in resp.headers


def test_production_problems_name_what_dev_settings_lack(tmp_path: Path) -> None:
    dev = Settings(env="dev", var_dir=tmp_path, cors_origins=["*"])
    named = {p.setting for p in production_problems(dev) if p.blocking}
    assert {
        "ADMITONE_SECRET_KEY",
        "ADMITONE_CRON_SECRET",
        "ADMITONE_AUTH__SIGNING_KEYS",
        "ADMITONE_DATABASE_URL",
        "ADMITONE_MAIL__TRANSPORT",
        "ADMITONE_PAYMENTS__PROVIDERS",
        "ADMITONE_BASE_URL",
        "ADMITONE_CORS_ORIGINS",
    } <= named
    warned = {p.setting for p in production_problems(dev) if not p.blocking}
    assert "ADMITONE_STORAGE__BACKEND" in warned


def test_production_refuses_to_start_with_a_short_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shorter than 32"):
        Settings(
            env="production",
            var_dir=tmp_path,
            secret_key=SecretStr("short"),
            cron_secret=SecretStr("c" * 40),
            database_url="postgresql://db/x",
            base_url="https://tickets.example.com",
        )


def test_check_config_on_dev_settings_names_what_production_needs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("ADMITONE_ENV", "ADMITONE_DATABASE_URL", "ADMITONE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADMITONE_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 1
    assert "MISSING  ADMITONE_SECRET_KEY" in result.output
    assert "MISSING  ADMITONE_MAIL__TRANSPORT" in result.output
    assert "warning  ADMITONE_REALTIME_BACKEND" in result.output


def test_check_config_passes_a_complete_production_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {
        "ADMITONE_ENV": "production",
        "ADMITONE_VAR_DIR": str(tmp_path),
        "ADMITONE_SECRET_KEY": "s" * 48,
        "ADMITONE_CRON_SECRET": "c" * 48,
        "ADMITONE_AUTH__SIGNING_KEYS": '["-----BEGIN PRIVATE KEY-----"]',
        "ADMITONE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "ADMITONE_BASE_URL": "https://tickets.example.com",
        "ADMITONE_MAIL__TRANSPORT": "smtp",
        "ADMITONE_PAYMENTS__PROVIDERS": '["paystack"]',
        "ADMITONE_PAYMENTS__PAYSTACK_SECRET_KEY": "sk_live_x",
        "ADMITONE_STORAGE__BACKEND": "s3",
        "ADMITONE_STORAGE__S3_BUCKET": "tickets",
        "ADMITONE_AUTH__RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379",
        "ADMITONE_REALTIME_BACKEND": "postgres",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["check-config"])
    # Only the unreachable database is reported; every setting is there.
    assert "database not reachable" in result.output
    assert "ADMITONE_SECRET_KEY" not in result.output
    assert "warning " not in result.output
    assert "1 to fix before production, 0 warning(s)" in result.output
