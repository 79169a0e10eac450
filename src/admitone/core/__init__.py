"""The runtime the domains stand on; imports no domain."""
