"""Platform roles, the role -> capability table, require_capability, audit log."""
