"""Rendering pages: Jinja2 templates with autoescape, and the headers every page carries.

Pages have no inline script or style, so the Content-Security-Policy below holds without
`unsafe-inline`; each page's JavaScript is a file under `web/static/` named in its
template's `scripts` block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from admitone.web.session import csrf_token, ensure_csrf_cookie

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cache-Control": "no-store",
}


def render_page(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page `template` rendered with `context` (and `request`, `settings`, the signed-in
    `actor` when the page looked it up, and this browser's `csrf_token` for its forms)."""
    context.setdefault("actor", getattr(request.state, "web_actor", None) or None)
    html = _env.get_template(template).render(
        request=request,
        settings=request.app.state.settings,
        csrf_token=csrf_token(request),
        **context,
    )
    response = HTMLResponse(
        html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
    )
    ensure_csrf_cookie(request, response)
    return response


def redirect(request: Request, url: str) -> RedirectResponse:
    """A 303 to a path of this site (never elsewhere: `url` must start with one slash)."""
    if not url.startswith("/") or url.startswith("//") or url.startswith("/\\"):
        url = "/"
    response = RedirectResponse(url, status_code=303, headers=dict(PAGE_HEADERS))
    ensure_csrf_cookie(request, response)
    return response
