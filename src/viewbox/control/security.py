"""HTTP security in front of every route (control API and web UI alike), docs/configuration.md.

In order: client allow-list (CIDR), Host header (DNS rebinding), Origin of non-GET requests
(cross-site POSTs), then authentication (Bearer token or HTTP Basic) when configured. Refusals
are answered in the shape of the route (methodResponse, JSON or text) and written to the audit log.
A pure ASGI middleware: no per-request overhead beyond reading a few headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import ipaddress
import json
import threading
import time
from collections import deque
from urllib.parse import parse_qs, urlsplit

from ..errors import error_reply
from .access import own_host_names
from .audit import AuditLog
from .urls import parse_query
from .wire import encode_response

LOGIN_PATH = "/ui/login"
UI_COOKIE = "viewbox_session"
_LOGIN_FORM = """<!doctype html><meta charset="utf-8"><title>Viewbox — sign in</title>
<style>body{background:#111;color:#ddd;font:15px system-ui;display:grid;place-items:center;height:90vh}
form{background:#1c1f24;padding:2em;border-radius:8px}input{font:inherit;margin:.5em 0;padding:.4em;width:20em}
button{font:inherit;padding:.4em 1.2em}</style>
<form method="post" action="/ui/login"><h2>Viewbox</h2><p>{message}</p>
<input type="password" name="token" placeholder="access token" autofocus><br><button>Sign in</button></form>"""


# Sec-Fetch-Site values of a request made by a page that is not ours: another site, or this host
# on another port (same-site); "none" (typed, bookmarked) and "same-origin" (our UI) are fine.
_FOREIGN_PAGES = frozenset({"cross-site", "same-site"})
# On every answer: no framing (clickjacking of Delete, Send, Retrieve), no type sniffing, no
# referrer (URLs carry patient IDs), scripts from this origin only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_SECURITY_HEADER_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


def _with_security_headers(send):
    """`send` adding SECURITY_HEADERS to the response start (unless the route set them)."""
    async def sending(message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
            message = {**message, "headers": headers}
        await send(message)
    return sending


class SignInThrottle:
    """Wrong tokens and passwords per client address: after `attempts` in a minute, that
    address is refused (429, even with the right secret, so guessing learns nothing) until the
    minute since its first failure has passed."""

    WINDOW = 60.0

    def __init__(self, attempts: int):
        self.attempts = attempts
        self._failures: dict[str | None, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, peer: str | None, now: float) -> deque[float]:
        failures = self._failures.get(peer)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.WINDOW:
            failures.popleft()
        if not failures:
            del self._failures[peer]
        return failures

    def failed(self, peer: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # a spray of addresses must not grow this forever
                self._failures.clear()
            self._recent(peer, now)
            self._failures.setdefault(peer, deque()).append(now)

    def locked(self, peer: str | None) -> bool:
        with self._lock:
            return len(self._recent(peer, time.monotonic())) >= self.attempts

    def wait(self, peer: str | None) -> int:
        """Seconds until `peer` may try again."""
        with self._lock:
            failures = self._recent(peer, time.monotonic())
            return max(1, int(failures[0] + self.WINDOW - time.monotonic()) + 1) if failures else 1

    def message(self, peer: str | None) -> str:
        return f"too many wrong sign-ins from {peer}: try again in {self.wait(peer)} s"


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
        names = own_host_names(settings)
        names.update(h.lower() for h in settings.allowed_hosts)
        self.host_names = names
        self.origins = {o.rstrip("/").lower() for o in settings.allowed_origins}
        self.auth_required = bool(settings.token or settings.basic_users)
        # Browsers cannot send a Bearer header on page loads or event streams: after signing in
        # with the token, the UI carries an HttpOnly, SameSite=Strict cookie derived from it.
        self.ui_session = (hmac.new(settings.token.encode(), b"viewbox-ui-session", hashlib.sha256)
                           .hexdigest() if settings.token else None)

    def session_ok(self, cookie_header: str | None) -> bool:
        """Whether a Cookie header carries the UI session derived from the token."""
        if not self.ui_session or not cookie_header:
            return False
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == UI_COOKIE and hmac.compare_digest(value.encode(), self.ui_session.encode()):
                return True
        return False

    def token_ok(self, token: str) -> bool:
        return bool(self.settings.token) and hmac.compare_digest(token.encode(), self.settings.token.encode())

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
            return self.token_ok(credentials), "token"
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
        self.throttle = SignInThrottle(settings.sign_in_attempts)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {}
        for key, value in scope["headers"]:
            if key in (b"host", b"origin", b"authorization", b"sec-fetch-site", b"cookie"):
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
        elif scope["type"] == "http" and scope.get("path") == LOGIN_PATH and policy.ui_session:
            await self._login(scope, receive, _with_security_headers(send), peer)
            return
        elif headers.get(b"authorization") and self.throttle.locked(peer):
            refusal = (429, self.throttle.message(peer))
        else:
            authorization = headers.get(b"authorization")
            authenticated, user = policy.user(authorization)
            if not authenticated and policy.session_ok(headers.get(b"cookie")):
                authenticated, user = True, "token"
            if not authenticated:
                if authorization:
                    self.throttle.failed(peer)
                refusal = (401, "authentication required")
            else:
                scope["viewbox.user"] = user
        # A page of another site, or of another port of this host ("same-site"), is never the
        # RIS: destructive methods refuse it (dispatch) unless its origin is configured.
        scope["viewbox.cross_site"] = (headers.get(b"sec-fetch-site") in _FOREIGN_PAGES
                                       and not (origin and policy.origin_allowed(origin, host)))
        if refusal is None:
            await self.app(scope, receive, _with_security_headers(send))
            return
        status, message = refusal
        self._record(scope, peer, status, message)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._refuse(scope, send, status, message)

    async def _login(self, scope, receive, send, peer) -> None:
        """The UI's sign-in: a form asking for the token; the right token sets the session cookie."""
        token = ""
        if scope.get("method") == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if len(body) > 4096 or not message.get("more_body"):
                    break
            token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
        if token and self.throttle.locked(peer):
            message = self.throttle.message(peer)
            self._record(scope, peer, 429, message)
            body = _LOGIN_FORM.replace("{message}", html.escape(message)).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                    (b"retry-after", str(self.throttle.wait(peer)).encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if token and self.policy.token_ok(token):
            secure = "; Secure" if scope.get("scheme") == "https" else ""
            cookie = (f"{UI_COOKIE}={self.policy.ui_session}; Path=/; HttpOnly; SameSite=Strict{secure}")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", b"/ui/"), (b"set-cookie", cookie.encode()),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if token:
            self.throttle.failed(peer)
            self._record(scope, peer, 401, "UI sign-in with a wrong token")
        text = "Wrong token." if token else "This workstation needs its access token."
        body = _LOGIN_FORM.replace("{message}", text).encode()
        await send({"type": "http.response.start", "status": 401 if token else 200,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

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
        reply = error_reply(status, message)
        browser_page = path.startswith("/ui") or (
            path == "/" and scope.get("method") == "GET"
            and b"methodname" not in scope.get("query_string", b"").lower())
        if status == 401 and self.policy.ui_session and browser_page:
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", LOGIN_PATH.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if path in ("/", "/RPC2") or path.lower() == "/rpc2":
            body, media = encode_response(reply), b"text/xml; charset=utf-8"
        elif path.startswith("/api/"):
            body, media = json.dumps(reply).encode(), b"application/json"
        else:
            body, media = f"{status}: {message}\n".encode(), b"text/plain; charset=utf-8"
        headers = [(b"content-type", media), (b"content-length", str(len(body)).encode()),
                   *SECURITY_HEADERS]
        if status == 429:
            client = scope.get("client")
            headers.append((b"retry-after", str(self.throttle.wait(client[0] if client else None)).encode()))
        if status == 401:
            challenge = b'Basic realm="Viewbox", charset="UTF-8"' if self.basic else b'Bearer realm="Viewbox"'
            headers.append((b"www-authenticate", challenge))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
