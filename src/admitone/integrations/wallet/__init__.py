"""Apple Wallet and Google Wallet: pass signing, APNs pushes over HTTP/2, the Google Wallet
save JWT and REST client. No domain logic: the passes domain says what a pass contains."""
