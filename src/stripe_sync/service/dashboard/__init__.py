"""The dashboard: a browser UI over the service API, served by the service itself.

Static files only, shipped in this package: ``/`` is ``index.html``, ``/assets/…`` its scripts
(plain ES modules, no build step) and styles. They hold no data, so they need no token; every API
call the page makes carries the bearer token typed at sign-in, kept in the tab's
``sessionStorage``. The Content-Security-Policy allows nothing but this origin: no CDN, no inline
script. See ``docs/dashboard.md``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def mount_dashboard(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files at ``/assets/…``."""

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(HERE / "index.html", headers=SECURITY_HEADERS)

    app.mount("/assets", StaticFiles(directory=HERE / "assets"), name="dashboard-assets")
