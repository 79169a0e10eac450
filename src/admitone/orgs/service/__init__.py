"""Tenancy use cases, one module per resource: each checks the caller's capability
(`access.guard`), applies the rules of `orgs.membership` / `orgs.invitations` and writes the
audit row, in the caller's transaction. Routes call exactly one of these.

`access` comes before `orgs` in the dependency order (it only reads orgs' models to resolve
a scope), so these services may call it (docs/architecture.md, "Layers").
"""
