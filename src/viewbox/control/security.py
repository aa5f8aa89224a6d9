"""HTTP security in front of every route (control API and web UI alike), spec §7.

In order: client allow-list (CIDR), Host header (DNS rebinding), Origin of non-GET requests
(cross-site POSTs), then authentication (Bearer token or HTTP Basic) when configured. Refusals
are answered in the shape of the route (methodResponse, JSON or text) and written to the audit log.
A pure ASGI middleware: no per-request overhead beyond reading a few headers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import socket
from urllib.parse import urlsplit

from .audit import AuditLog
from .urls import parse_query
from .wire import encode_response

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def host_name(value: str) -> str:
    """The host part of a Host header or an origin's netloc, without port and brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


class SecurityPolicy:
    """The decisions, separate from ASGI so they read (and test) plainly."""

    def __init__(self, settings):
        self.settings = settings
        self.networks = [ipaddress.ip_network(c, strict=False) for c in settings.allow_clients]
        names = set(LOCAL_NAMES)
        names.update(h.lower() for h in settings.allowed_hosts)
        if not is_ip(settings.host) and settings.host not in ("", "0.0.0.0", "::"):
            names.add(settings.host.lower())
        hostname = socket.gethostname().lower()
        names.update({hostname, f"{hostname}.local"})
        self.host_names = names
        self.origins = {o.rstrip("/").lower() for o in settings.allowed_origins}
        self.auth_required = bool(settings.token or settings.basic_users)

    def client_allowed(self, peer: str | None) -> bool:
        if not self.networks or peer is None:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return address.is_loopback or any(address in net for net in self.networks)

    def host_allowed(self, host: str | None) -> bool:
        """IP literals cannot be rebound; names must be local, ours, or configured."""
        if host is None:
            return True  # HTTP/1.0 clients; browsers always send Host
        name = host_name(host)
        if is_ip(name) or name in self.host_names or "*" in self.host_names:
            return True
        return any(allowed.startswith(".") and name.endswith(allowed) for allowed in self.host_names)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Same-origin or configured origins only; `null` (sandboxed pages, files) is refused."""
        if origin is None:
            return True
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins or "*" in self.origins:
            return True
        if origin == "null":
            return False
        netloc = urlsplit(origin).netloc
        return host is not None and netloc == host.strip().lower()

    def user(self, authorization: str | None) -> tuple[bool, str | None]:
        """(authenticated, user name) for an Authorization header."""
        if not self.auth_required:
            return True, None
        if not authorization:
            return False, None
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and self.settings.token:
            return hmac.compare_digest(credentials.encode(), self.settings.token.encode()), "token"
        if scheme.lower() == "basic" and self.settings.basic_users:
            try:
                user, _, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False, None
            expected = self.settings.basic_users.get(user)
            if expected is not None and hmac.compare_digest(password.encode(), expected.encode()):
                return True, user
        return False, None


class SecurityMiddleware:
    """Applies SecurityPolicy to every HTTP and WebSocket request; records refusals."""

    def __init__(self, app, settings, audit: AuditLog):
        self.app = app
        self.policy = SecurityPolicy(settings)
        self.audit = audit
        self.basic = bool(settings.basic_users)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {}
        for key, value in scope["headers"]:
            if key in (b"host", b"origin", b"authorization", b"sec-fetch-site"):
                headers[key] = value.decode("latin-1")
        client = scope.get("client")
        peer = client[0] if client else None
        host, origin = headers.get(b"host"), headers.get(b"origin")
        policy = self.policy
        refusal = None
        if not policy.client_allowed(peer):
            refusal = (403, f"client {peer} is not in allow_clients")
        elif not policy.host_allowed(host):
            refusal = (403, f"Host {host!r} is not an allowed host name (DNS rebinding protection); "
                            "add it to allowed_hosts")
        elif ((scope["type"] == "websocket" or scope.get("method") not in ("GET", "HEAD", "OPTIONS"))
              and not policy.origin_allowed(origin, host)):
            refusal = (403, f"cross-origin request from {origin} refused; add it to allowed_origins")
        else:
            authenticated, user = policy.user(headers.get(b"authorization"))
            if not authenticated:
                refusal = (401, "authentication required")
            else:
                scope["viewbox.user"] = user
        scope["viewbox.cross_site"] = (headers.get(b"sec-fetch-site") == "cross-site"
                                       and not (origin and policy.origin_allowed(origin, host)))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        self._record(scope, peer, status, message)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._refuse(scope, send, status, message)

    def _record(self, scope, peer, status: int, message: str) -> None:
        path = scope.get("path", "")
        method = "-"
        if path.startswith("/api/methods/"):
            method = path[len("/api/methods/"):]
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            if "methodname" in query.lower():
                method = next((v for k, v in parse_query(query).items() if k.lower() == "methodname"), "-")
        try:
            self.audit.record(peer=peer, user=None, transport="http", method=method,
                              params={"path": path}, status=status, error=str(status), message=message)
        except OSError:
            pass

    async def _refuse(self, scope, send, status: int, message: str) -> None:
        path = scope.get("path", "")
        reply = {"error": str(status), "message": message}
        if path in ("/", "/RPC2") or path.lower() == "/rpc2":
            body, media = encode_response(reply), b"text/xml; charset=utf-8"
        elif path.startswith("/api/"):
            body, media = json.dumps(reply).encode(), b"application/json"
        else:
            body, media = f"{status}: {message}\n".encode(), b"text/plain; charset=utf-8"
        headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
        if status == 401:
            challenge = b'Basic realm="Viewbox", charset="UTF-8"' if self.basic else b'Bearer realm="Viewbox"'
            headers.append((b"www-authenticate", challenge))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
