"""Mobile gateway: proxies /mobile/v1 to the support service."""
