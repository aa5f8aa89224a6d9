"""The HTTP application: every control-API transport plus the web UI, behind one security layer.

Transports (spec §1): XML-RPC POST on `/` and `/RPC2`, GET query strings, the JSON mirror
`/api/methods/<name>`, IHE IID. All of them end in Controller.invoke(), run on a worker thread
(methods do blocking database work).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import BadRequest, TooLarge, ViewboxError
from ..web.routes import web_routes
from .dispatch import Controller, Outcome
from .iid import render_page
from .security import SecurityMiddleware
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


def _run_all(actions: list) -> None:
    for action in actions:
        action()


def _after(outcome: Outcome) -> BackgroundTask | None:
    """What runs once the reply is out (KillOsiriX shuts down after answering)."""
    actions = outcome.call.after_reply
    return BackgroundTask(_run_all, actions) if actions else None


async def _receive_body(scope, receive, limit: int) -> bytes | None:
    """The request body read from ASGI messages, refusing more than `limit` bytes without
    reading them all; None if the client disconnected first."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            declared = value.decode("latin-1")
            if declared.isdigit() and int(declared) > limit:
                raise TooLarge(f"request body of {declared} bytes is over the limit of {limit}")
            break
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_xml(send, status: int, body: bytes) -> None:
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
    """Sends POSTs on `/`, `/RPC2` and `/rpc2` straight to Transports.xmlrpc_post; everything else
    to the application. Installed after the security middleware, so those calls pass the same
    checks and only skip routing and Request/Response objects."""

    def __init__(self, app, transports: Transports):
        self.app = app
        self.transports = transports

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] == "http" and scope.get("method") == "POST" and not scope.get("root_path")
                and scope.get("path") in XMLRPC_PATHS):
            await self.transports.xmlrpc_post(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _as_json(reply) -> dict:
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

    async def _invoke_scope(self, scope, name: str, params: dict, transport: str,
                            args: list | None = None) -> Outcome:
        client = scope.get("client")
        call = functools.partial(
            self.controller.invoke, name, params, transport=transport,
            peer=client[0] if client else None, user=scope.get("viewbox.user"),
            args=args, cross_site=scope.get("viewbox.cross_site", False))
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    def close(self) -> None:
        self.executor.shutdown(wait=False)

    def _refused(self, scope, path: str, exc: ViewboxError) -> dict:
        """The reply to a request refused before any method ran, written to the audit log."""
        reply = {"error": str(exc.http_status), "message": exc.message}
        client = scope.get("client")
        self.controller.audit.record(peer=client[0] if client else None,
                                     user=scope.get("viewbox.user"), transport="http",
                                     method="-", params={"path": path},
                                     status=exc.http_status, error=reply["error"], message=exc.message)
        return reply

    def _protocol_error(self, request: Request, exc: ViewboxError, as_json: bool) -> Response:
        reply = self._refused(request.scope, request.url.path, exc)
        if as_json:
            return JSONResponse(reply, exc.http_status)
        return Response(encode_response(reply), exc.http_status, media_type=XML_TYPE)

    async def xmlrpc(self, request: Request) -> Response:
        """`/` and `/RPC2`: POST methodCall, GET ?methodName=…, GET / → the web UI.

        POSTs normally arrive at `xmlrpc_post` through XmlRpcPost and never get here."""
        if request.method in ("GET", "HEAD"):
            return await self.query(request)
        try:
            body = await read_body(request, self.limit)
            name, values = decode_call(body)
        except ViewboxError as exc:
            return self._protocol_error(request, exc, as_json=False)
        params, args = _call_values(values)
        outcome = await self._invoke(request, name, params, "xmlrpc", args)
        return Response(encode_response(outcome.reply), outcome.status, media_type=XML_TYPE,
                        background=_after(outcome))

    async def xmlrpc_post(self, scope, receive, send) -> None:
        """POST methodCall on `/` and `/RPC2`, the hottest route, as plain ASGI: no Request or
        Response objects, the same bytes on the wire (status, content-type, content-length)."""
        try:
            body = await _receive_body(scope, receive, self.limit)
            if body is None:
                return  # the client went away before sending its call
            name, values = decode_call(body)
        except ViewboxError as exc:
            # the path is one of XMLRPC_PATHS: what request.url.path gives for it
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
            return self._protocol_error(request, BadRequest("missing methodName"), as_json=False)
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
            try:
                body = await read_body(request, self.limit)
                params = json.loads(body) if body.strip() else {}
            except ViewboxError as exc:
                return self._protocol_error(request, exc, as_json=True)
            except (ValueError, UnicodeDecodeError) as exc:
                return self._protocol_error(request, BadRequest(f"malformed JSON: {exc}"), as_json=True)
            if not isinstance(params, dict):
                return self._protocol_error(request, BadRequest("the body must be a JSON object"),
                                            as_json=True)
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


def build_app(workstation) -> Starlette:
    """The ASGI application serving `workstation`: control API + web UI, security in front."""
    controller = Controller(workstation)
    workstation.controller = controller  # the web UI and the CLI reach the registry through it
    transports = Transports(controller)
    routes = [
        Route("/", transports.xmlrpc, methods=["GET", "POST", "HEAD"]),
        Route("/RPC2", transports.xmlrpc, methods=["GET", "POST"]),
        Route("/rpc2", transports.xmlrpc, methods=["GET", "POST"]),
        Route("/api/methods/{name:str}", transports.json_method, methods=["GET", "POST"]),
        Route("/IHEInvokeImageDisplay", transports.iid, methods=["GET"]),
        *web_routes(workstation),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        transports.close()
        controller.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(SecurityMiddleware, settings=workstation.settings,
                                           audit=controller.audit),
                                Middleware(XmlRpcPost, transports=transports)])
    app.state.controller = controller
    app.state.workstation = workstation
    return app
