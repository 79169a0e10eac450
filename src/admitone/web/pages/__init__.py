"""One module per page family; each exposes `router` (collected by `web.routes`)."""
