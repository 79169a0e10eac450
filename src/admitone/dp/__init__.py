"""DP campaigns: templates and generated pictures."""
