"""Passes: codes, signed QR payloads, wallet passes and badges."""
