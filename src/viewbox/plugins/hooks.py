"""The plugin hooks of Viewbox (pluggy project name and entry-point group: `viewbox`).

Core methods register through these same hooks. Hooks are always called with keyword
arguments; their names and arguments are never renamed, so a plugin written today keeps working.

A plugin is a module (installed with an entry point in group `viewbox`, or a `.py` file / package
in the plugins folder) holding functions decorated with `hookimpl`::

    from viewbox.plugins.hooks import hookimpl

    @hookimpl
    def viewbox_register_methods(registry):
        registry.add("hello", lambda call: {"error": "0", "greeting": call.params.text("name")})
"""

from __future__ import annotations

import pluggy

PROJECT = "viewbox"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ViewboxHooks:
    """The hook specifications (the functions' bodies are never run)."""

    @hookspec
    def viewbox_register_methods(self, registry):
        """Add control-API methods with `registry.add(name, function, aliases=…, help=…,
        params=…, permission=…)`.

        `function(call)` receives a Call (`.workstation`, `.params`, `.peer`, `.user`,
        `.transport`, `.method_name`) and returns the reply struct (a dict whose `error` is a
        string) or raises a ViewboxError (BadRequest → 400 …). Names are case-insensitive; a name
        that is already taken is ignored with a warning (core registers first): to replace a
        built-in, answer it in `viewbox_before_call` instead.
        """

    @hookspec(firstresult=True)
    def viewbox_before_call(self, call):
        """See every call first, built-in names included (OsiriX's `OsiriXXMLRPCMessage`).

        Return a reply (a dict such as `{"error": "0"}`) to answer the call instead of the
        registered method, or None to let it run. Called after authentication and the permission
        check, before dispatch, on a worker thread.
        """

    @hookspec
    def viewbox_after_call(self, call, reply, status):
        """Observe every finished call: its reply struct and HTTP status (metrics, logging)."""
