"""The HTTP application as one picture: the control API, the web UI and DICOMweb side by side,
behind one security layer.

Each part exposes its routes (and maps its own errors: the control API through `Transports.refused`,
the web UI's JSON API through its mount's handler, DICOMweb through its own mount); this module only
places them. Middleware, outermost first: CorsMiddleware (opt-in CORS for DICOMweb only, answering
browsers' preflights, which carry no credentials), SecurityMiddleware (allow-list, Host, Origin,
authentication, for every route alike), then XmlRpcPost (the control API's hottest route, XML-RPC
POST, served without routing; also on every path no route here owns, as Horos answers them).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from .app import Workstation
from .control.dispatch import Controller
from .control.security import SecurityMiddleware
from .control.transports import Transports, XmlRpcPost
from .dicomweb import CorsMiddleware, DicomWeb
from .errors import ViewboxError
from .web.routes import WebUI


def build_app(workstation: Workstation) -> Starlette:
    """The ASGI application serving `workstation`."""
    controller = Controller(workstation)
    workstation.controller = controller  # the registry and audit log, for the CLI and the tests
    transports = Transports(controller)
    web = WebUI(workstation)
    routes: list[BaseRoute] = [
        *transports.routes(),  # /, /RPC2, /api/methods/<name>, /IHEInvokeImageDisplay
        *web.routes(),  # /ui/, /static/, /api/ui/
        *DicomWeb(workstation, controller.audit).routes(),  # /dicom-web/..., /wado
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        transports.close()
        controller.close()

    app = Starlette(
        routes=routes, lifespan=lifespan,
        # the control API's refusals (the web UI and DICOMweb map theirs inside their mounts)
        exception_handlers={ViewboxError: transports.refused},
        middleware=[Middleware(CorsMiddleware, origins=workstation.settings.dicomweb_cors_origins),
                    Middleware(SecurityMiddleware, settings=workstation.settings, audit=controller.audit),
                    Middleware(XmlRpcPost, transports=transports, routes=routes)])
    app.state.controller = controller
    app.state.workstation = workstation
    return app
