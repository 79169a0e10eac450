"""Door check-ins: checkpoints, scans, offline sync, live stats."""
