"""Settings: dev secrets generated once; production refuses unsafe defaults and says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from admitone.settings import (
    AuthSettings,
    MailSettings,
    PaymentSettings,
    Settings,
    new_signing_key_pem,
    with_dev_secrets,
)


def test_dev_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = with_dev_secrets(Settings(var_dir=tmp_path))
    again = with_dev_secrets(Settings(var_dir=tmp_path))
    assert first.secret_key is not None
    assert first.cron_secret is not None
    assert first.secret_key.get_secret_value() == again.secret_key.get_secret_value()  # type: ignore[union-attr]
    assert len(first.signing_keys) == 1
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_secrets_are_not_printed(tmp_path: Path) -> None:
    s = with_dev_secrets(Settings(var_dir=tmp_path))
    assert s.secret_key.get_secret_value() not in repr(s)  # type: ignore[union-attr]


def test_production_refuses_to_start_without_secrets_and_with_dev_parts() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(env="production")
    message = str(caught.value)
    for reason in (
        "ADMITONE_SECRET_KEY",
        "ADMITONE_CRON_SECRET",
        "SIGNING_KEYS",
        "DATABASE_URL",
        "dev mailbox",
        "dev payment provider",
    ):
        assert reason in message


def test_production_starts_with_explicit_configuration() -> None:
    s = Settings(
        env="production",
        secret_key=SecretStr("k" * 32),
        cron_secret=SecretStr("c" * 32),
        database_url="postgresql://db/admitone",
        auth=AuthSettings(signing_keys=[SecretStr(new_signing_key_pem())]),
        mail=MailSettings(transport="smtp"),
        payments=PaymentSettings(
            providers=["paystack"],
            default_provider="paystack",
            paystack_secret_key=SecretStr("sk_live_x"),
        ),
        base_url="https://tickets.example.com",
    )
    assert with_dev_secrets(s) is s
    assert s.resolved_database_url.startswith("postgresql")


def test_environment_variables_configure_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMITONE_MAIL__TRANSPORT", "smtp")
    monkeypatch.setenv("ADMITONE_MAIL__SMTP_PORT", "2525")
    monkeypatch.setenv("ADMITONE_DATABASE_URL", "postgresql://x/y")
    s = Settings()
    assert (s.mail.transport, s.mail.smtp_port, s.database_url) == (
        "smtp",
        2525,
        "postgresql://x/y",
    )
