"""Parsing `osirix://`, `horos://` and `viewbox://` URLs and GET query strings into parameters.

Follows Horos (docs/control-api.md, "URL schemes"): split off the query at `?` before
percent-decoding, then split on `&` and `=`; single quotes protect `?` and `&` inside a value;
surrounding '…'/"…" are stripped. Unlike Horos, non-ASCII survives (UTF-8) and `+` stays a `+`.
The method is the `methodName` parameter or, in the host form (`horos://displaystudy?studyUID=…`,
`horos://closeallwindows`), the URL's host.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

from ..errors import BadRequest

SCHEMES = ("osirix", "horos", "viewbox")
# Letters, digits, '_', '.' and '-': every core and plugin method name; never a control character,
# '/' or '?', which would change the request they are sent in.
_METHOD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


def split_outside_quotes(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split on `separator` except between single quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == separator and not quoted and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def unwrap(value: str) -> str:
    """Strip one pair of surrounding quotes, or a stray trailing one (Horos issue #485)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value[-1:] in ("'", '"') and value[:1] != value[-1:] and value.count(value[-1]) == 1:
        return value[:-1]
    return value


def _pairs(text: str, decode_each: bool) -> dict[str, str]:
    """Split on `&` and `=` outside quotes; `decode_each` percent- and form-decodes each part."""
    params: dict[str, str] = {}
    for piece in split_outside_quotes(text, "&"):
        if "=" not in piece:
            continue
        key, value = piece.split("=", 1)
        if decode_each:
            key, value = unquote_plus(key), unquote_plus(value)
        key, value = key.strip(), unwrap(value)
        if key and value != "":
            params[key] = value
    return params


def parse_scheme_url(url: str) -> dict[str, str]:
    """The parameters of an `osirix://?methodName=…&k=v` URL (scheme in any letter case), with
    `methodName` taken from the host when the URL names the method there."""
    scheme, sep, rest = url.strip().partition(":")
    if not sep or scheme.lower() not in SCHEMES:
        raise BadRequest(f"not an osirix://, horos:// or viewbox:// URL: {url!r}")
    parts = split_outside_quotes(rest, "?", maxsplit=1)
    params = _pairs(unquote(parts[1]), decode_each=False) if len(parts) == 2 else {}
    host = unquote(parts[0].removeprefix("//").split("/", 1)[0]).strip()
    if not any(key.lower() == "methodname" for key in params):
        if not host:
            raise BadRequest("the URL names no method: expected ?methodName=… or a host such as "
                             "horos://displaystudy?studyUID=…")
        params = {"methodName": host, **params}
    name = next(value for key, value in params.items() if key.lower() == "methodname")
    if not _METHOD_NAME.match(name):
        raise BadRequest(f"the URL's methodName {name[:80]!r} is not a method name")
    return params


def parse_query(query: str) -> dict[str, str]:
    """An HTTP GET query string: split on `&` first, then decode each name and value as every
    HTTP client encodes them (`%26` inside a value does not split; `+` is a space, as in forms);
    quotes as in the URL scheme."""
    return _pairs(query, decode_each=True)


def pop_method_name(params: dict) -> str | None:
    """Take `methodName` (any letter case) out of query parameters; None when there is none."""
    return next((params.pop(k) for k in list(params) if k.lower() == "methodname"), None)
