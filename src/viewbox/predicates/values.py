"""Value semantics shared by the evaluator and the SQL compiler (docs/predicates.md).

The compiler folds every constant sub-expression (CAST, now(), arithmetic on literals, `{…}`)
with these same functions, so a constant means the same thing on both paths. Dates are aware
UTC datetimes here; the compiler turns them into the naive UTC the database stores.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from viewbox.db.schema import fold, osirix_name
from viewbox.errors import PredicateError

REFERENCE_DATE = datetime(2001, 1, 1, tzinfo=UTC)
INT64 = 2**63 - 1


class ToMany(tuple):
    """The values reached through a to-many relationship (as opposed to a literal `{…}`)."""


class OsirixName(str):
    """Study.name as OsiriX shows it (`osirix_name`), remembering the stored DICOM value, which
    MATCHES also tries."""

    stored: str

    @classmethod
    def of(cls, stored: str) -> OsirixName:
        name = cls(osirix_name(stored))
        name.stored = stored
        return name


def as_name_constant(value: Any, whole: bool) -> Any:
    """A string compared with a name, in the name's form: whole values (==, IN, ordering) as
    `osirix_name` gives them, substrings and patterns with `^` as a space."""
    if isinstance(value, OsirixName) or not isinstance(value, (str, tuple)):
        return value
    if isinstance(value, tuple):
        return tuple(as_name_constant(item, whole) for item in value) if whole else value
    return osirix_name(value) if whole else value.replace("^", " ")


def kind_of(value: Any) -> str:
    """The comparison type of a Python value: none, number, string, date, collection, object."""
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, tuple):
        return "collection"
    return "object"


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive datetimes are taken as UTC (the database's convention)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def resolve_now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else datetime.now(UTC)


def date_from_seconds(seconds: float, pos: int) -> datetime:
    try:
        return REFERENCE_DATE + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise PredicateError("date out of range", pos) from None


def seconds_since_reference(value: datetime) -> float:
    return (as_utc(value) - REFERENCE_DATE).total_seconds()


def parse_iso_date(text: str, pos: int) -> datetime:
    """Accept `YYYY-MM-DDTHH:MM:SSZ` and the other ISO-8601 forms Python reads (UTC if no zone)."""
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise PredicateError(f"cannot read {text!r} as a date (use YYYY-MM-DDTHH:MM:SSZ)", pos) from None


def number(value: Any, pos: int) -> int | float:
    """Keep numbers finite and integers within 64 bits, as the databases can store them."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and abs(value) > INT64:
        try:
            value = float(value)
        except OverflowError:
            raise PredicateError("number out of range", pos) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise PredicateError("number out of range", pos)
    return value


def arithmetic(op: str, left: Any, right: Any, pos: int) -> Any:
    """`+ - * / **` on numbers; nil propagates (as SQL NULL does); division by zero is nil."""
    if left is None or right is None:
        return None
    for value in (left, right):
        if kind_of(value) != "number":
            raise PredicateError(f"arithmetic '{op}' needs numbers, not {describe(value)}", pos)
    a, b = number(left, pos), number(right, pos)
    result: int | float | None
    try:
        if op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        elif op == "/":
            if b == 0:
                return None
            result = a / b
        else:
            result = power(a, b, pos)
    except (OverflowError, ZeroDivisionError):
        raise PredicateError("number out of range", pos) from None
    return number(result, pos)


def power(a: int | float, b: int | float, pos: int) -> int | float | None:
    if a == 0 and b < 0:
        return None
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if abs(a) > 1 and b * math.log2(abs(a)) > 63:
            result = float(a) ** b
        else:
            return a**b
    else:
        result = float(a) ** float(b)
    if isinstance(result, complex):
        return None
    return result


def negate(value: Any, pos: int) -> Any:
    if value is None:
        return None
    if kind_of(value) != "number":
        raise PredicateError(f"unary '-' needs a number, not {describe(value)}", pos)
    return number(-number(value, pos), pos)


def describe(value: Any) -> str:
    kind = kind_of(value)
    return {"none": "nil", "collection": "a collection", "object": "an object"}.get(kind, f"a {kind}")


def cast(value: Any, type_name: Any, pos: int) -> Any:
    """CAST(value, 'NSDate' | 'NSNumber' | 'NSString')."""
    if not isinstance(type_name, str):
        raise PredicateError("CAST needs a type name such as 'NSDate'", pos)
    if value is None:
        return None
    kind = kind_of(value)
    if type_name == "NSDate":
        if kind == "date":
            return value
        if kind == "number":
            return date_from_seconds(number(value, pos), pos)
        if kind == "string":
            return parse_iso_date(value, pos)
    elif type_name == "NSNumber":
        if kind == "number":
            return number(value, pos)
        if kind == "date":
            return seconds_since_reference(value)
        if kind == "string":
            try:
                return number(int(value.strip()), pos)
            except ValueError:
                try:
                    return number(float(value.strip()), pos)
                except ValueError:
                    raise PredicateError(f"cannot read {value!r} as a number", pos) from None
    elif type_name == "NSString":
        if kind == "string":
            return value
        if kind == "number":
            return str(int(value)) if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)
        if kind == "date":
            return as_utc(value).strftime("%Y-%m-%d %H:%M:%S +0000")
    else:
        raise PredicateError(f"unsupported CAST type {type_name!r} (use NSDate, NSNumber or NSString)", pos)
    raise PredicateError(f"cannot CAST {describe(value)} to {type_name}", pos)


def call_function(name: str, args: list[Any], pos: int) -> Any:
    """The whitelisted functions (docs/predicates.md)."""
    if name == "now":
        raise AssertionError("now() is resolved by the caller")
    if len(args) != 1:
        raise PredicateError(f"{name}() takes one argument", pos)
    (arg,) = args
    if name in ("sum", "count", "min", "max", "average"):
        if arg is None:
            return None
        if not isinstance(arg, tuple):
            raise PredicateError(f"{name}() needs a collection such as {{1, 2}}", pos)
        if name == "count":
            return len(arg)
        items = [v for v in arg if v is not None]
        if name in ("sum", "average"):
            if any(kind_of(v) != "number" for v in items):
                raise PredicateError(f"{name}() needs numbers", pos)
            if name == "sum":
                return number(sum(number(v, pos) for v in items), pos)
            return number(sum(items) / len(items), pos) if items else None
        if not items:
            return None
        kinds = {kind_of(v) for v in items}
        if len(kinds) != 1 or kinds & {"collection", "object"}:
            raise PredicateError(f"{name}() needs values of one type", pos)
        return min(items) if name == "min" else max(items)
    if arg is None:
        return None
    if name in ("lowercase", "uppercase"):
        if not isinstance(arg, str):
            raise PredicateError(f"{name}() needs a string", pos)
        return arg.lower() if name == "lowercase" else arg.upper()
    if kind_of(arg) != "number":
        raise PredicateError(f"{name}() needs a number", pos)
    arg = number(arg, pos)
    if name == "abs":
        return number(abs(arg), pos)
    if name == "floor":
        return math.floor(arg)
    if name == "ceiling":
        return math.ceil(arg)
    if name == "trunc":
        return math.trunc(arg)
    raise PredicateError(f"unknown function {name!r}", pos)


def index_value(collection: Any, index: Any, pos: int) -> Any:
    """`coll[FIRST]`, `[LAST]`, `[SIZE]` and `[n]` (0-based) on a literal collection."""
    if collection is None:
        return None
    if not isinstance(collection, tuple):
        raise PredicateError(f"[…] needs a collection, not {describe(collection)}", pos)
    if index == "SIZE":
        return len(collection)
    if isinstance(collection, ToMany) and index in ("FIRST", "LAST"):
        raise PredicateError("[FIRST] and [LAST] are not defined on a to-many relationship", pos)
    try:
        if index == "FIRST":
            return collection[0]
        if index == "LAST":
            return collection[-1]
        if isinstance(index, bool) or not isinstance(index, int):
            if isinstance(index, float) and index.is_integer():
                index = int(index)
            else:
                raise PredicateError("an index must be an integer", pos)
        if index < 0:
            raise IndexError
        return collection[index]
    except IndexError:
        raise PredicateError("index out of range", pos) from None


# ---------------------------------------------------------------- strings


def fold_text(value: str, suffix: str) -> str:
    """Apply the [c]/[d]/[cd] fold that the shadow column `<col>__<suffix>` holds."""
    if not suffix:
        return value
    return fold(value, "c" in suffix, "d" in suffix)


def like_tokens(pattern: str) -> list[tuple[str, str]]:
    """Split a LIKE pattern into ("lit", text), ("any", "*") and ("one", "?") tokens.

    `*` is any run, `?` exactly one character, `\\x` is a literal x, every other character is
    literal (SQL's % and _ and regex metacharacters included).
    """
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            tokens.append(("lit", pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            tokens.append(("any", ch))
        elif ch == "?":
            tokens.append(("one", ch))
        else:
            tokens.append(("lit", ch))
        i += 1
    return tokens


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern:
    parts = []
    for kind, text in like_tokens(pattern):
        parts.append(".*" if kind == "any" else "." if kind == "one" else re.escape(text))
    return re.compile("".join(parts), re.DOTALL)


def regex_source(pattern: str, case_insensitive: bool) -> str:
    """The Python regex both paths use for MATCHES: whole-string, optionally case-insensitive."""
    return ("(?i)" if case_insensitive else "") + r"\A(?:" + pattern + r")\Z"


@lru_cache(maxsize=256)
def compile_regex(pattern: str, case_insensitive: bool, pos: int) -> re.Pattern:
    try:
        re.compile(pattern)  # errors relative to the pattern as written
        return re.compile(regex_source(pattern, case_insensitive))
    except (re.error, RecursionError, OverflowError) as exc:
        raise PredicateError(f"invalid regular expression {pattern!r}: {exc}", pos) from None


def strip_diacritics(value: str) -> str:
    return fold(value, False, True)
