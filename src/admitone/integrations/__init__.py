"""The outside world behind typed interfaces, chosen by settings."""
