"""Current-user helpers, profiles, account deletion."""
