"""Wallet passes: Apple Wallet `.pkpass` and its web service, Google Wallet objects, and
the pushes that keep installed passes true after a change."""
