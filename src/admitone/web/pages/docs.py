"""`/docs` (Swagger UI) and `/redoc` with their assets from the package (vendored under
`web/static/vendor/`, licences beside them), so the API reference works offline and no
third-party script runs on this origin.

Their policy differs from the other pages in one way: both libraries set inline styles at
run time (React style attributes, styled-components), so `style-src` allows
'unsafe-inline' here; scripts stay 'self' only (the initialisers are files)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admitone.web.render import CONTENT_SECURITY_POLICY, render_page

router = APIRouter(include_in_schema=False)

DOCS_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
).replace("script-src 'self'", "script-src 'self'; worker-src 'self' blob:")


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return render_page(
        request,
        "docs.html",
        headers={"Content-Security-Policy": DOCS_POLICY, "Cache-Control": "public, max-age=300"},
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    return render_page(
        request,
        "redoc.html",
        headers={"Content-Security-Policy": DOCS_POLICY, "Cache-Control": "public, max-age=300"},
    )
