"""Opt-in CORS for the DICOMweb routes, so a browser viewer served elsewhere (OHIF) can read them.

Nothing is cross-origin by default: only origins listed in `dicomweb_cors_origins` get the
Access-Control headers, and only on `/dicom-web` and `/wado`. Installed outside the security
middleware because a browser's preflight (OPTIONS) carries no credentials; the real request that
follows passes authentication as any other.
"""

from __future__ import annotations

PATHS = ("/dicom-web/", "/wado")
EXPOSED = b"Content-Type, Content-Length, Content-Location, Warning"


def _is_dicomweb(path: str) -> bool:
    return path == "/dicom-web" or path.startswith(PATHS)


class CorsMiddleware:
    """Answers preflights and marks responses for the allowed origins."""

    def __init__(self, app, origins: tuple[str, ...]):
        self.app = app
        self.origins = {origin.rstrip("/").lower() for origin in origins}

    def _allowed(self, origin: str | None) -> bool:
        return origin is not None and bool(origin) and (
            "*" in self.origins or origin.rstrip("/").lower() in self.origins)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self.origins or not _is_dicomweb(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        if origin is None or not self._allowed(origin):
            await self.app(scope, receive, send)
            return
        allow = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if scope.get("method") == "OPTIONS" and b"access-control-request-method" in headers:
            requested = headers.get(b"access-control-request-headers", b"")
            await send({"type": "http.response.start", "status": 204, "headers": [
                *allow, (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", requested or b"Accept, Authorization, Content-Type"),
                (b"access-control-max-age", b"600"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_marked(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *allow,
                                                  (b"access-control-expose-headers", EXPOSED)]}
            await send(message)

        await self.app(scope, receive, send_marked)
