"""OsiriX's smart-album date variables, bound wherever a predicate is accepted.

OsiriX replaces `$LASTHOUR`, `$TODAY`, … (any case) in a smart album's predicate by seconds
since 2001 and binds `$NSDATE_LASTHOUR`, `$NSDATE_TODAY`, … to dates. Viewbox binds both
spellings to the same instant, as a date, in albums, DBWindowFind and the web UI alike (so
`date >= $TODAY` compares a date with a date). "Today" is the workstation's local midnight;
a month is 31 days, a year 365, as in OsiriX (docs/predicates.md lists them).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from . import ast
from .values import resolve_now

NodeT = TypeVar("NodeT", bound=ast.Node)

HOURS = {"LASTHOUR": 1, "LAST6HOURS": 6, "LAST12HOURS": 12}
DAYS = {"TODAY": 0, "YESTERDAY": 1, "2DAYS": 2, "WEEK": 7, "MONTH": 31, "2MONTHS": 62, "3MONTHS": 93,
        "YEAR": 365}
NSDATE_PREFIX = "NSDATE_"


def album_dates(now: datetime | None = None) -> dict[str, datetime]:
    """The instants (aware UTC) that OsiriX's album variables stand for, keyed by bare name."""
    now = resolve_now(now)
    local = now.astimezone()
    dates: dict[str, datetime] = {}
    for name, hours in HOURS.items():
        dates[name] = now - timedelta(hours=hours)
    for name, days in DAYS.items():
        # mktime normalises day underflow and applies the DST offset of that local midnight.
        stamp = time.mktime((local.year, local.month, local.day - days, 0, 0, 0, 0, 0, -1))
        dates[name] = datetime.fromtimestamp(stamp, UTC)
    return dates


def _bare(name: str) -> str | None:
    """The album variable a `$name` stands for (`TODAY` for `$today` and `$NSDATE_TODAY`)."""
    upper = name.upper()
    if upper.startswith(NSDATE_PREFIX):
        upper = upper[len(NSDATE_PREFIX):]
    return upper if upper in HOURS or upper in DAYS else None


def bind_date_variables(node: NodeT, now: datetime | None = None) -> NodeT:
    """Replace every album variable by its date; other variables (SUBQUERY's) stay as they are.

    A SUBQUERY variable that happens to share a name with an album variable keeps its meaning."""
    if not _mentions_album_variable(node):
        return node
    dates = album_dates(now)
    return cast(NodeT, _replace(node, dates, frozenset()))  # a node of the same kind


def _mentions_album_variable(node) -> bool:
    if isinstance(node, ast.Variable):
        return _bare(node.name) is not None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            items = value if isinstance(value, tuple) else (value,)
            if any(_mentions_album_variable(item) for item in items):
                return True
    return False


def _replace(item, dates: dict[str, datetime], shadowed: frozenset):
    if isinstance(item, ast.Variable):
        bare = _bare(item.name)
        if bare is None or item.name in shadowed:
            return item
        return ast.Literal(dates[bare], item.pos)
    if isinstance(item, ast.Subquery):
        shadowed = shadowed | {item.var}
    if not dataclasses.is_dataclass(item) or isinstance(item, type):
        return item
    changes = {}
    for f in dataclasses.fields(item):
        value = getattr(item, f.name)
        if isinstance(value, tuple):
            new = tuple(_replace(v, dates, shadowed) for v in value)
            if all(a is b for a, b in zip(new, value, strict=True)):
                continue
        else:
            new = _replace(value, dates, shadowed)
            if new is value:
                continue
        changes[f.name] = new
    return dataclasses.replace(item, **changes) if changes else item
