"""The command line drives the same code paths as the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from admitone.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADMITONE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("ADMITONE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return tmp_path


def test_migrate_is_idempotent(env: Path) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["migrate"])
        assert result.exit_code == 0, result.output
        assert "database is at head" in result.output
    assert (env / "cli.db").exists()
    assert (env / "secrets.json").exists()


def test_cron_run_rejects_an_unknown_cron(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["cron", "run", "no-such-cron"])
    assert result.exit_code == 2
    assert "no cron named" in result.output
