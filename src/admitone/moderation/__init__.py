"""Moderation: the image block-list and the checks every DP and the support service run."""
