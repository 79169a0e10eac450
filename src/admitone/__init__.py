"""Admit One: an event platform backend."""
