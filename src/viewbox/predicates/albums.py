"""Smart albums: OsiriX's date variables substituted, then the ordinary compiler.

OsiriX (notes §9) replaces `$LASTHOUR`, `$TODAY`, … (case-insensitive) by seconds since 2001
and binds `$NSDATE_LASTHOUR`, `$NSDATE_TODAY`, … to dates. "Today" is local midnight; a month
is 31 days and a year 365. Here the numeric tokens become `CAST(seconds, 'NSDate')`, so that
`date >= $TODAY` compares a date with a date (Core Data compared the raw numbers).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.sql.elements import ColumnElement

from . import ast
from .compiler import compile_filter
from .parser import parse
from .values import resolve_now, seconds_since_reference

_HOURS = {"LASTHOUR": 1, "LAST6HOURS": 6, "LAST12HOURS": 12}
_DAYS = {"TODAY": 0, "YESTERDAY": 1, "2DAYS": 2, "WEEK": 7, "MONTH": 31, "2MONTHS": 62, "3MONTHS": 93, "YEAR": 365}


def album_dates(now: datetime | None = None) -> dict[str, datetime]:
    """The instants (aware UTC) that OsiriX's album variables stand for, keyed by bare name."""
    now = resolve_now(now)
    local = now.astimezone()
    dates: dict[str, datetime] = {}
    for name, hours in _HOURS.items():
        dates[name] = now - timedelta(hours=hours)
    for name, days in _DAYS.items():
        # mktime normalises day underflow and applies the DST offset of that local midnight.
        stamp = time.mktime((local.year, local.month, local.day - days, 0, 0, 0, 0, 0, -1))
        dates[name] = datetime.fromtimestamp(stamp, UTC)
    return dates


def substitute_album_variables(node: ast.Node, now: datetime | None = None) -> ast.Node:
    """Replace `$NSDATE_X` by the date and `$X` by `CAST(seconds since 2001, 'NSDate')`."""
    dates = album_dates(now)

    def replace(item):
        if isinstance(item, ast.Variable):
            name = item.name.upper()
            if name.startswith("NSDATE_") and name[7:] in dates:
                return ast.Literal(dates[name[7:]], item.pos)
            if name in dates:
                seconds = seconds_since_reference(dates[name])
                return ast.Cast(ast.Literal(seconds, item.pos), ast.Literal("NSDate", item.pos), item.pos)
            return item
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            changes = {}
            for f in dataclasses.fields(item):
                value = getattr(item, f.name)
                if isinstance(value, tuple):
                    new = tuple(replace(v) for v in value)
                else:
                    new = replace(value)
                if new is not value:
                    changes[f.name] = new
            return dataclasses.replace(item, **changes) if changes else item
        return item

    return replace(node)


def smart_album_filter(predicate_string: str, *, now: datetime | None = None, **kwargs) -> ColumnElement[bool]:
    """Compile a smart album's predicate over Study with OsiriX's date variables substituted."""
    node = parse(predicate_string, conventional_precedence=kwargs.pop("conventional_precedence", False))
    return compile_filter(substitute_album_variables(node, now), "Study", now=now, **kwargs)
