"""The HTTP application: control API transports and the web UI (placeholder until the control API lands)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route


def build_app(workstation) -> Starlette:
    """The ASGI application serving `workstation`."""

    async def index(_request):
        return HTMLResponse("<!doctype html><title>Viewbox</title><h1>Viewbox</h1>")

    return Starlette(routes=[Route("/", index)])
