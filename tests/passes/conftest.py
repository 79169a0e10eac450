"""Pass-document tests use the e-mail harness's real SMTP server."""

from tests.emails.conftest import smtp

__all__ = ["smtp"]
