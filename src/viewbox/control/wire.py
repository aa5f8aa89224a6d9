"""XML-RPC on the wire: decoding requests leniently and encoding replies (docs/control-api.md).

Decoding goes through defusedxml with DTDs forbidden, so billion-laughs and XXE documents are
refused before any entity is expanded. Encoding is written by hand: strings untyped as OsiriX
sends them, escaped exactly once, characters XML cannot carry dropped.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..errors import BadRequest

MAX_NESTING = 64
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def decode_call(body: bytes) -> tuple[str, list[Any]]:
    """(methodName, params) of a methodCall document; anything else is a 400 BadRequest."""
    if not body.strip():
        raise BadRequest("empty request body: expected an XML-RPC methodCall")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadRequest(f"refused XML: {type(exc).__name__} (DTDs, entities and external "
                         "references are not accepted)") from None
    except ParseError as exc:
        raise BadRequest(f"malformed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # unknown declared encoding
        raise BadRequest(f"unreadable XML: {exc}") from None
    if _local(root.tag) != "methodCall":
        raise BadRequest(f"expected a methodCall element, got {_local(root.tag)!r}")
    name_elements = [child for child in root if _local(child.tag) == "methodName"]
    if len(name_elements) != 1 or not (name_elements[0].text or "").strip():
        raise BadRequest("methodCall needs exactly one non-empty methodName")
    params: list[Any] = []
    for child in root:
        if _local(child.tag) == "params":
            for param in child:
                if _local(param.tag) != "param":
                    continue
                value = next((v for v in param if _local(v.tag) == "value"), None)
                if value is None:
                    raise BadRequest("a param has no value")
                params.append(decode_value(value))
    return name_elements[0].text.strip(), params


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def decode_value(value: Element, depth: int = 0) -> Any:
    """One <value>: typed children as in XML-RPC; an untyped value is its text. Arrays and
    structs nest at most MAX_NESTING deep (no method takes more than two levels)."""
    if depth > MAX_NESTING:
        raise BadRequest(f"XML-RPC values nested more than {MAX_NESTING} deep")
    typed = [child for child in value if isinstance(child.tag, str)]
    if not typed:
        return value.text or ""
    node = typed[0]
    kind = _local(node.tag)
    text = node.text or ""
    try:
        if kind == "string":
            return text
        if kind in ("int", "i4", "i8", "i2", "i1"):
            return int(text.strip())
        if kind == "boolean":
            return text.strip().lower() in ("1", "true")
        if kind == "double":
            return float(text.strip())
        if kind == "nil":
            return None
        if kind == "dateTime.iso8601":
            return text.strip()
        if kind == "base64":
            return base64.b64decode(text)
        if kind == "struct":
            out: dict[str, Any] = {}
            for member in node:
                if _local(member.tag) != "member":
                    continue
                name = next((m for m in member if _local(m.tag) == "name"), None)
                inner = next((m for m in member if _local(m.tag) == "value"), None)
                if name is None or inner is None:
                    raise BadRequest("a struct member needs a name and a value")
                out[(name.text or "").strip()] = decode_value(inner, depth + 1)
            return out
        if kind == "array":
            data = next((d for d in node if _local(d.tag) == "data"), None)
            return [decode_value(v, depth + 1) for v in (data if data is not None else [])
                    if _local(v.tag) == "value"]
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"bad <{kind}> value {text!r}: {exc}") from None
    raise BadRequest(f"unsupported XML-RPC type <{kind}>")


def escape(text: str) -> str:
    """Escape once (Horos escapes twice; Viewbox once, as XML wants) and drop characters XML forbids."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    # printable text has no control characters, surrogates or non-characters: skip the regex
    if not text.isprintable() and _INVALID_XML.search(text):
        text = _INVALID_XML.sub("", text)
    return text


_NAME_VALUE = "</name><value>".join
_MEMBER_SEPARATOR = "</value></member><member><name>"


def _struct_of_plain_strings(value: dict) -> str | None:
    """The common reply shape, a struct whose names and values are all strings that need no
    escaping, encoded in one pass of C-level joins; None when any member needs the general path
    (a value that is not a string, or text with `&`, `<`, `>` or characters to drop)."""
    if not value:
        return None
    try:
        body = _MEMBER_SEPARATOR.join(map(_NAME_VALUE, value.items()))  # TypeError: not a str
    except TypeError:
        return None
    # The tags of n members hold 6n-4 '<' and as many '>': any more come from the text.
    tags = 6 * len(value) - 4
    if "&" in body or body.count("<") != tags or body.count(">") != tags or not body.isprintable():
        return None
    return f"<value><struct><member><name>{body}</value></member></struct></value>"


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(f"<value>{escape(value)}</value>")
    elif isinstance(value, dict):
        fast = _struct_of_plain_strings(value)
        if fast is not None:
            out.append(fast)
            return
        out.append("<value><struct>")
        for key, item in value.items():
            out.append(f"<member><name>{escape(str(key))}</name>")
            _encode(item, out)
            out.append("</member>")
        out.append("</struct></value>")
    elif isinstance(value, (list, tuple)):
        out.append("<value><array><data>")
        for item in value:
            _encode(item, out)
        out.append("</data></array></value>")
    elif value is None:
        out.append("<value><nil/></value>")
    elif isinstance(value, bool):
        out.append(f"<value><boolean>{int(value)}</boolean></value>")
    elif isinstance(value, int):
        out.append(f"<value><int>{value}</int></value>")
    elif isinstance(value, float):
        out.append(f"<value><double>{value!r}</double></value>")
    elif isinstance(value, datetime):
        out.append(f"<value><dateTime.iso8601>{value.strftime('%Y%m%dT%H:%M:%S')}</dateTime.iso8601></value>")
    elif isinstance(value, bytes):
        out.append(f"<value><base64>{base64.b64encode(value).decode()}</base64></value>")
    else:
        out.append(f"<value>{escape(str(value))}</value>")


def encode_response(value: Any) -> bytes:
    """A methodResponse document carrying `value` (normally the reply struct)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?><methodResponse><params><param>']
    _encode(value, out)
    out.append("</param></params></methodResponse>")
    return "".join(out).encode("utf-8")
