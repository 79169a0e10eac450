"""Transfer tests use the pass tests' wallet chain and local APNs/Google stand-ins."""

from tests.passes.conftest import apns, google_server, settings, wallet_chain

__all__ = ["apns", "google_server", "settings", "wallet_chain"]
