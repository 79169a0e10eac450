"""Pass tests: the e-mail harness's real SMTP server, one wallet test chain per session
(RSA keys are slow to make), and local stand-ins for APNs and Google Wallet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from admitone.integrations.wallet.keys import DevChain, ensure_dev_chain
from admitone.settings import Settings, WalletSettings
from tests.emails.conftest import smtp
from tests.passes.wallet_servers import (
    ApnsServer,
    GoogleServer,
    start_apns,
    start_google,
)

__all__ = ["smtp"]

PASS_TYPE = "pass.test.admitone.ticket"


@pytest.fixture(scope="session")
def wallet_chain(tmp_path_factory: pytest.TempPathFactory) -> DevChain:
    return ensure_dev_chain(tmp_path_factory.mktemp("wallet"), PASS_TYPE)


@pytest.fixture(scope="session")
def apns(wallet_chain: DevChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApnsServer]:
    server, stop = start_apns(wallet_chain, tmp_path_factory.mktemp("apns"))
    yield server
    stop.set()


@pytest.fixture(scope="session")
def google_server() -> Iterator[GoogleServer]:
    server, httpd = start_google()
    yield server
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def settings(
    settings: Settings,
    wallet_chain: DevChain,
    apns: ApnsServer,
    google_server: GoogleServer,
    tmp_path: Path,
) -> Settings:
    """The test settings with the session's wallet chain and the local stand-ins."""
    apns.pushes.clear()
    apns.gone.clear()
    google_server.patches.clear()
    google_server.token_requests.clear()
    google_server.missing.clear()
    wallet = WalletSettings(
        apple_pass_type_id=PASS_TYPE,
        apple_team_id="TEAM123456",
        apple_certificate=wallet_chain.certificate.read_text(),
        apple_key=SecretStr(wallet_chain.key.read_text()),
        apple_wwdr_certificate=wallet_chain.wwdr.read_text(),
        apns_url=apns.url,
        apns_ca_file=apns.ca_file,
        google_issuer_id="3388000000012345678",
        google_service_account_email="wallet@admitone-test.iam.gserviceaccount.com",
        google_private_key=SecretStr(wallet_chain.google_key.read_text()),
        google_api_url=google_server.url + "/walletobjects/v1",
        google_token_url=google_server.url + "/token",
        google_origins=["https://app.admitone.test"],
    )
    return settings.model_copy(update={"wallet": wallet})
