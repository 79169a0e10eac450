"""Workspaces, organizations, members, team members and invitations."""
