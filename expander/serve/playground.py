"""The playground page at `/`: one self-contained HTML file (inline CSS and JS, no external assets) where a person
types a prompt and sees each expansion with its kept, violated and added spans highlighted.

The page itself is open; the `/v1/expand` calls it makes carry the key typed into it (`Authorization: Bearer`).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

__all__ = ["PLAYGROUND_HTML", "add_playground"]

PLAYGROUND_HTML = files("expander.serve") / "static" / "playground.html"

# Inline script and style are the page's only code; nothing may be loaded from elsewhere.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
}


def add_playground(app: FastAPI) -> None:
    """Serve the playground page at `GET /` (read once, here)."""
    html = PLAYGROUND_HTML.read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def playground() -> HTMLResponse:
        return HTMLResponse(html, headers=_HEADERS)
