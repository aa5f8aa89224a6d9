"""The control API's HTTP transports: the routes `asgi.build_app` places next to the web UI's.

Transports (docs/control-api.md): XML-RPC POST on `/`, `/RPC2` and, as Horos answers, on any path
no other route owns (`/RPC2/`, `/RPC`, `/xmlrpc`), GET query strings, the JSON
mirror `/api/methods/<name>`, IHE IID. All of them end in Controller.invoke(), run on a worker
thread (methods do blocking database work). A request refused before any method runs (a body too
large, malformed XML or JSON, no methodName) raises a ViewboxError that `Transports.refused`, the
Starlette exception handler of this boundary, answers as XML-RPC or JSON and audits.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import BadRequest, TooLarge, ViewboxError, error_reply
from .dispatch import Controller, Outcome
from .iid import render_page
from .urls import parse_query, pop_method_name
from .wire import decode_call, encode_response

log = logging.getLogger(__name__)

XML_TYPE = "text/xml; charset=utf-8"
XML_HEADER = XML_TYPE.encode("latin-1")
XMLRPC_PATHS = ("/", "/RPC2", "/rpc2")
# Method calls run on worker threads (they block on the database); as many as anyio's default
# thread limiter allowed before.
CALL_THREADS = 40


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes without reading them all."""
    body = await _receive_body(request.scope, request.receive, limit)
    if body is None:
        raise ClientDisconnect()
    return body


def _run_all(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        action()


def _after(outcome: Outcome) -> BackgroundTask | None:
    """What runs once the reply is out (KillOsiriX shuts down after answering)."""
    actions = outcome.call.after_reply
    return BackgroundTask(_run_all, actions) if actions else None


async def _receive_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The request body read from ASGI messages, refusing more than `limit` bytes without
    reading them all; None if the client disconnected first."""
    headers = dict(scope["headers"])
    declared = headers.get(b"content-length", b"").decode("latin-1")
    if declared.isdigit() and int(declared) > limit:
        if headers.get(b"expect", b"").lower() != b"100-continue":  # (such a client sends nothing)
            await _discard_body(receive)
        raise TooLarge(f"request body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await _discard_body(receive)
                raise TooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# A refused body is read and dropped up to this size before the 413 goes out: a client that sends
# its whole body before reading (and asked to close the connection) would otherwise get a reset
# instead of the answer. Beyond it, the connection is closed unread.
DISCARD_LIMIT = 128 * 1024 * 1024


async def _discard_body(receive: Receive) -> None:
    discarded = 0
    while discarded <= DISCARD_LIMIT:
        message = await receive()
        discarded += len(message.get("body", b""))
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _send_xml(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", XML_HEADER)]})
    await send({"type": "http.response.body", "body": body})


def _call_values(values: list) -> tuple[dict, list]:
    """(params, args) of a methodCall: struct params merged in order (Horos #487), the rest
    positional."""
    params: dict = {}
    args = []
    for value in values:
        if isinstance(value, dict):
            params.update(value)
        else:
            args.append(value)
    return params, args


class XmlRpcPost:
    """Sends XML-RPC POSTs straight to Transports.xmlrpc_post; everything else to the application.

    An XML-RPC POST is one on `/`, `/RPC2`, `/rpc2` or, as Horos answers them, on any path that no
    route of the application owns (`/RPC2/`, `/RPC`, `/xmlrpc`: clients such as xmlrpc.client and
    Apache XML-RPC follow no redirect), while the web UI's, the JSON mirror's and DICOMweb's paths
    stay theirs. Installed after the security middleware, so those calls pass the same checks and
    only skip routing and Request/Response objects."""

    def __init__(self, app: ASGIApp, transports: Transports, routes: list[BaseRoute]):
        self.app = app
        self.transports = transports
        self.routes = routes

    def _owned(self, scope: Scope) -> bool:
        """Whether a route of the application answers this path (with any method)."""
        return any(route.matches(scope)[0] is not Match.NONE for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope.get("method") == "POST" and not scope.get("root_path")
                and (scope.get("path") in XMLRPC_PATHS or not self._owned(scope))):
            await self.transports.xmlrpc_post(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _as_json(reply: object) -> dict:
    return reply if isinstance(reply, dict) else {"error": "0", "result": reply}


class Transports:
    """The route handlers; one instance per application."""

    def __init__(self, controller: Controller):
        self.controller = controller
        self.limit = controller.settings.max_body_bytes
        # A plain executor hop costs less per call than anyio's to_thread (capacity limiter,
        # cancel scope, per-call backend lookups) and runs the call the same way.
        self.executor = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="viewbox-call")

    async def _invoke(self, request: Request, name: str, params: dict, transport: str,
                      args: list | None = None) -> Outcome:
        return await self._invoke_scope(request.scope, name, params, transport, args)

    async def _invoke_scope(self, scope: Scope, name: str, params: dict, transport: str,
                            args: list | None = None) -> Outcome:
        client = scope.get("client")
        call = functools.partial(
            self.controller.invoke, name, params, transport=transport,
            peer=client[0] if client else None, user=scope.get("viewbox.user"),
            args=args, cross_site=scope.get("viewbox.cross_site", False),
            over_get=scope.get("method") in ("GET", "HEAD"))
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    def close(self) -> None:
        self.executor.shutdown(wait=False)

    def routes(self) -> list[BaseRoute]:
        """The control API's routes; `asgi.build_app` places them at the root of the application."""
        return [
            Route("/", self.xmlrpc, methods=["GET", "POST", "HEAD"]),
            Route("/RPC2", self.xmlrpc, methods=["GET", "POST"]),
            Route("/rpc2", self.xmlrpc, methods=["GET", "POST"]),
            Route("/api/methods/{name:str}", self.json_method, methods=["GET", "POST"]),
            Route("/IHEInvokeImageDisplay", self.iid, methods=["GET"]),
        ]

    def _refused(self, scope: Scope, path: str, exc: ViewboxError) -> dict:
        """The reply to a request refused before any method ran, written to the audit log."""
        reply = error_reply(exc.http_status, exc.message)
        client = scope.get("client")
        self.controller.audit.record(peer=client[0] if client else None,
                                     user=scope.get("viewbox.user"), transport="http",
                                     method="-", params={"path": path},
                                     status=exc.http_status, error=reply["error"], message=exc.message)
        return reply

    async def refused(self, request: Request, exc: Exception) -> Response:
        """The exception handler of the control API's routes: a ViewboxError raised before any
        method ran, answered in the route's shape (JSON under /api/, XML-RPC elsewhere)."""
        assert isinstance(exc, ViewboxError)
        reply = self._refused(request.scope, request.url.path, exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse(reply, exc.http_status)
        return Response(encode_response(reply), exc.http_status, media_type=XML_TYPE)

    async def xmlrpc(self, request: Request) -> Response:
        """`/` and `/RPC2`: POST methodCall, GET ?methodName=…, GET / → the web UI.

        POSTs normally arrive at `xmlrpc_post` through XmlRpcPost and never get here."""
        if request.method in ("GET", "HEAD"):
            return await self.query(request)
        name, values = decode_call(await read_body(request, self.limit))
        params, args = _call_values(values)
        outcome = await self._invoke(request, name, params, "xmlrpc", args)
        return Response(encode_response(outcome.reply), outcome.status, media_type=XML_TYPE,
                        background=_after(outcome))

    async def xmlrpc_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST methodCall on `/` and `/RPC2`, the hottest route, as plain ASGI: no Request or
        Response objects, the same bytes on the wire (status, content-type, content-length)."""
        try:
            body = await _receive_body(scope, receive, self.limit)
            if body is None:
                return  # the client went away before sending its call
            name, values = decode_call(body)
        except ViewboxError as exc:
            await _send_xml(send, exc.http_status, encode_response(self._refused(scope, scope["path"], exc)))
            return
        params, args = _call_values(values)
        outcome = await self._invoke_scope(scope, name, params, "xmlrpc", args)
        await _send_xml(send, outcome.status, encode_response(outcome.reply))
        actions = outcome.call.after_reply
        if actions:  # after the reply is out (KillOsiriX), on a worker thread like a BackgroundTask
            await asyncio.get_running_loop().run_in_executor(self.executor, _run_all, actions)

    async def query(self, request: Request) -> Response:
        params = parse_query(request.url.query)
        name = pop_method_name(params)
        if name is None:
            if request.url.path == "/":
                return RedirectResponse("/ui/", status_code=307)
            raise BadRequest("missing methodName")
        as_json = False
        for key in list(params):
            if key.lower() == "format" and params[key].lower() in ("json", "xml"):
                as_json = params.pop(key).lower() == "json"
        outcome = await self._invoke(request, name, params, "get")
        if as_json:
            return JSONResponse(_as_json(outcome.reply), outcome.status, background=_after(outcome))
        return Response(encode_response(outcome.reply), outcome.status, media_type=XML_TYPE,
                        background=_after(outcome))

    async def json_method(self, request: Request) -> Response:
        """`POST /api/methods/<name>` with a JSON object (GET takes a query string)."""
        name = request.path_params["name"]
        if request.method == "GET":
            params: dict = parse_query(request.url.query)
        else:
            body = await read_body(request, self.limit)
            try:
                params = json.loads(body) if body.strip() else {}
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadRequest(f"malformed JSON: {exc}") from None
            if not isinstance(params, dict):
                raise BadRequest("the body must be a JSON object")
        via_scheme = request.headers.get("x-viewbox-via") == "url-scheme"
        outcome = await self._invoke(request, name, params, "url" if via_scheme else "json")
        return JSONResponse(_as_json(outcome.reply), outcome.status, background=_after(outcome))

    async def iid(self, request: Request) -> Response:
        """IHE Invoke Image Display: open the studies, answer a page (404 when none match)."""
        outcome = await self._invoke(request, "IHEInvokeImageDisplay", parse_query(request.url.query), "iid")
        reply, status = outcome.reply, outcome.status
        if status == 200 and isinstance(reply, dict) and reply.get("error") != "0":
            status = 404
        return HTMLResponse(render_page(reply if isinstance(reply, dict) else {}, status), status)
