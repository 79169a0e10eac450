"""Users tests sign in exactly as people do (dev mailbox), reusing the auth harness."""

from tests.auth.conftest import idp, read_mail, settings, sign_in

__all__ = ["idp", "read_mail", "settings", "sign_in"]
