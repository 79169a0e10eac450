"""E-mail templates and send jobs."""
