"""The Controller: one entry point for every transport (registry, permissions, hooks, audit).

`invoke()` is the single mapping from exceptions to wire errors for the control API: protocol
errors become `{error:"<status>", message}` with that HTTP status, other ViewboxErrors
`{error:"-1", message}`, anything unexpected a 500 carrying an incident id (logged with its
traceback; the client never sees it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Forbidden, NotFound, ViewboxError, error_reply, incident_message, report_incident
from ..permissions import require_allowed
from ..plugins.manager import plugin_manager
from ..station import Station
from .audit import AuditLog
from .registry import Call, Params, Registry, wire_text

log = logging.getLogger(__name__)

PROTOCOL_STATUSES = {400, 401, 403, 404, 413}


@dataclass
class Outcome:
    """What a transport sends back: the reply value, the HTTP status and the call."""

    reply: Any
    status: int
    call: Call


def default_audit_path(settings) -> Path:
    return settings.audit_log or settings.data_dir / "audit.log"


class Controller:
    """Owns the registry and the plugin manager of one workstation."""

    def __init__(self, workstation: Station, *, entry_points: bool = True):
        from . import downloads, iid, methods, remote  # core methods, registered like plugins

        self.workstation = workstation
        self.settings = workstation.settings
        self.registry = Registry()
        self._add_introspection()
        self.plugins = plugin_manager([methods, remote, downloads, iid], self.settings.plugins_dir,
                                      entry_points=entry_points)
        self.plugins.hook.viewbox_register_methods(registry=self.registry)
        self.audit = AuditLog(default_audit_path(self.settings))

    # -- introspection ---------------------------------------------------------------------------

    def _add_introspection(self) -> None:
        def list_methods(call: Call) -> list[str]:
            """Every method name and alias, plugin methods included."""
            return self.registry.names()

        def method_help(call: Call) -> str:
            """The documentation of a method."""
            method = self._named(call)
            lines = [f"{method.name}: {method.help}"]
            if method.aliases:
                lines.append(f"Aliases: {', '.join(method.aliases)}")
            if method.params:
                lines.append(f"Parameters: {', '.join(method.params)}")
            return "\n".join(lines)

        def method_signature(call: Call) -> list[list[str]]:
            """[[return type, parameter types…]]: every method takes and returns one struct."""
            return self._named(call).signature()

        self.registry.add("system.listMethods", list_methods, source="core")
        self.registry.add("system.methodHelp", method_help, source="core", params=("method",))
        self.registry.add("system.methodSignature", method_signature, source="core", params=("method",))

    def _named(self, call: Call):
        name = call.args[0] if call.args and isinstance(call.args[0], str) else call.params.require("method", "name")
        method = self.registry.get(name)
        if method is None:
            raise NotFound(f"unknown method {name!r}")
        return method

    # -- calls -----------------------------------------------------------------------------------

    def check_permission(self, call: Call, cross_site: bool = False, over_get: bool = False) -> None:
        """Destructive calls: never from a web page of another site or port (the browser says so
        in Sec-Fetch-Site), over GET only while `destructive_over_get` allows it, and from this
        computer or listed."""
        if call.method is None:
            return
        needed = call.method.needed_permission(call.params)
        if needed is None:
            return
        if cross_site:
            raise Forbidden(f"{needed} is not allowed from a web page of another site or port "
                            "(Sec-Fetch-Site); add that page's origin to allowed_origins if it is yours")
        if over_get and not self.settings.destructive_over_get:
            raise Forbidden(f"{needed} is not allowed over GET here (destructive_over_get = false): "
                            "POST the call (XML-RPC or /api/methods)")
        require_allowed(self.settings, needed, local=call.is_local, where=f"{call.peer}", user=call.user)

    def invoke(self, method_name: str, params: dict | None = None, *, transport: str,
               peer: str | None = None, user: str | None = None, args: list | None = None,
               cross_site: bool = False, over_get: bool = False) -> Outcome:
        """Run one call through permission check, plugin hooks and the registry; never raises."""
        call = Call(self.workstation, method_name, Params(params or {}), transport, peer, user,
                    list(args or []), self.registry.get(method_name))
        try:
            self.check_permission(call, cross_site, over_get)
            reply = self.plugins.hook.viewbox_before_call(call=call)
            if reply is None:
                if call.method is None:
                    raise NotFound(f"unknown method {method_name!r}")
                reply = call.method.function(call)
            reply, status = normalise(reply), 200
        except ViewboxError as exc:
            if exc.http_status in PROTOCOL_STATUSES:
                reply, status = error_reply(exc.http_status, exc.message), exc.http_status
            else:
                reply, status = {"error": "-1", "message": exc.message}, 200
        except Exception:  # noqa: BLE001 - the boundary: log it, give the client an id only
            incident = report_incident(log, f"{method_name} failed")
            reply = {**error_reply(500, incident_message(incident)), "incident": incident}
            status = 500
        self._audit(call, reply, status)
        try:
            self.plugins.hook.viewbox_after_call(call=call, reply=reply, status=status)
        except Exception:  # noqa: BLE001
            log.exception("viewbox_after_call hook failed")
        return Outcome(reply, status, call)

    def _audit(self, call: Call, reply: Any, status: int) -> None:
        error = reply.get("error") if isinstance(reply, dict) else None
        message = reply.get("message") if isinstance(reply, dict) and status != 200 else None
        try:
            self.audit.record(peer=call.peer, user=call.user, transport=call.transport,
                              method=call.method.name if call.method else call.method_name,
                              params=call.params.as_dict(), status=status, error=error, message=message)
        except OSError:
            log.exception("cannot write the audit log")

    def close(self) -> None:
        self.audit.close()


def normalise(reply: Any) -> Any:
    """A struct reply always carries `error` as a string (plugins may forget or send an int)."""
    if reply is None:
        return {"error": "0"}
    if isinstance(reply, dict):
        if "error" not in reply:
            return {"error": "0", **reply}
        if not isinstance(reply["error"], str):
            reply = {**reply, "error": wire_text(reply["error"])}
    return reply
