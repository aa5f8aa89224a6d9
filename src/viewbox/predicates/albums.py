"""Smart albums: a predicate over Study, with OsiriX's date variables bound (as everywhere)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.sql.elements import ColumnElement

from .compiler import compile_filter


def smart_album_filter(predicate_string: str, *, now: datetime | None = None, **kwargs) -> ColumnElement[bool]:
    """Compile a smart album's predicate over Study."""
    return compile_filter(predicate_string, "Study", now=now, **kwargs)
