"""The one method registry behind every transport, and what a method receives (Call, Params).

Names are matched case-insensitively, aliases included; parameter names too (OsiriX clients
spell `PatientID`, `patientID` and `patientid` alike).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import FALSE_WORDS, TRUE_WORDS
from ..errors import BadRequest
from ..station import Station

log = logging.getLogger(__name__)



def wire_text(value: Any) -> str:
    """A decoded XML-RPC value as text: a method that wants a string uses the value's text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class Params(Mapping[str, Any]):
    """Call parameters with case-insensitive names and helpers that turn bad input into 400s."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values: dict[str, tuple[str, Any]] = {}
        for key, value in (values or {}).items():
            self._values[str(key).strip().lower()] = (str(key).strip(), value)

    def __getitem__(self, key: str) -> Any:
        return self._values[key.lower()][1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._values.values())

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict[str, Any]:
        """The parameters with the names as the client spelled them."""
        return {original: value for original, value in self._values.values()}

    def text(self, *names: str, default: str | None = None) -> str | None:
        """The first of `names` present with a non-empty value, as text (numbers → their text)."""
        for name in names:
            if name in self:
                value = wire_text(self[name]).strip()
                if value:
                    return value
        return default

    def require(self, *names: str) -> str:
        """Like text(), but a missing or empty value is a 400 naming the parameter."""
        value = self.text(*names)
        if value is None:
            raise BadRequest(f"missing parameter '{names[0]}'")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """yes/true/1/on (any case) → True; OsiriX's boolValue also takes a leading Y/T/1-9."""
        if name not in self:
            return default
        value = self[name]
        if isinstance(value, bool):
            return value
        text = wire_text(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS or not text:
            return False
        return text[:1] in ("y", "t") or text[:1] in "123456789"

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter; a value that is not a number is a 400."""
        text = self.text(name)
        if text is None:
            return default
        try:
            return int(float(text))
        except ValueError:
            raise BadRequest(f"parameter '{name}' must be a number, not {text!r}") from None


@dataclass
class Call:
    """One invocation of a method, whatever the transport."""

    workstation: Station
    method_name: str
    params: Params
    transport: str  # "xmlrpc" | "get" | "json" | "url" | "iid"
    peer: str | None = None
    user: str | None = None
    args: list = field(default_factory=list)  # positional non-struct XML-RPC params
    method: Method | None = None
    after_reply: list[Callable[[], None]] = field(default_factory=list)

    @property
    def is_local(self) -> bool:
        """From this machine: loopback peers and the URL scheme (which runs locally)."""
        if self.peer is None:
            return self.transport == "url"
        try:
            return ipaddress.ip_address(self.peer).is_loopback
        except ValueError:
            return False

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` once the reply has been sent (KillOsiriX shuts down after answering)."""
        self.after_reply.append(action)


Permission = Callable[[Params], "str | None"]


@dataclass
class Method:
    """A registered method. `permission(params)` names the permission a call needs, or None."""

    name: str
    function: Callable[[Call], Any]
    aliases: tuple[str, ...] = ()
    help: str = ""
    params: tuple[str, ...] = ()
    permission: Permission | None = None
    source: str = "core"

    def needed_permission(self, params: Params) -> str | None:
        return self.permission(params) if self.permission else None

    def signature(self) -> list[list[str]]:
        """XML-RPC introspection: every method takes one struct and returns one struct."""
        return [["struct", "struct"]]


class Registry:
    """Methods by lower-cased name and alias."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self._by_key: dict[str, Method] = {}

    def add(self, name: str, function: Callable[[Call], Any], *, aliases: tuple[str, ...] | list = (),
            help: str = "", params: tuple[str, ...] | list = (),
            permission: Permission | str | bool | None = None, source: str = "plugin") -> Method | None:
        """Register `function` under `name` (and aliases). `permission`: True or a name marks
        the method destructive (loopback only unless `remote_methods` lists it); a callable
        decides per call. A name already taken is ignored (returns None) with a warning."""
        if permission is True:
            permission_fn: Permission | None = lambda _params, _n=name: _n  # noqa: E731
        elif isinstance(permission, str):
            permission_fn = lambda _params, _n=permission: _n  # noqa: E731
        else:
            permission_fn = permission or None
        method = Method(name, function, tuple(aliases), help or (function.__doc__ or "").strip(),
                        tuple(params), permission_fn, source)
        keys = [name.lower(), *(alias.lower() for alias in aliases)]
        taken = [key for key in keys if key in self._by_key]
        if taken:
            log.warning("method name(s) %s already registered; %s from %s ignored",
                        ", ".join(taken), name, source)
            return None
        self._methods[name.lower()] = method
        for key in keys:
            self._by_key[key] = method
        return method

    def get(self, name: str) -> Method | None:
        return self._by_key.get(name.strip().lower())

    def names(self) -> list[str]:
        """Canonical names and aliases, sorted case-insensitively (system.listMethods)."""
        out = []
        for method in self._methods.values():
            out.append(method.name)
            out.extend(method.aliases)
        return sorted(out, key=str.lower)

