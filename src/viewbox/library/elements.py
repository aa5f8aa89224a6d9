"""The element structs (docs/osirix-names.md): one row of Study, Series, Image or Album as OsiriX
sends it.

All values are strings; dates `YYYY-MM-DD HH:MM:SS +0000`; booleans `1`/`0`; Study.name as
OsiriX shows it (`osirix_name`); absent values left out. Image.path is absolute (PathToFrontDCM, exports).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from ..db.schema import ATTRIBUTES, osirix_name

DATE_FORMAT = "%Y-%m-%d %H:%M:%S +0000"


def wire_value(value, kind: str) -> str:
    """One value as the wire wants it: always a string."""
    if kind == "date" and isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    if kind == "bool" or isinstance(value, bool):
        return "1" if value else "0"
    if kind == "float":
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


# -- the conversion plan: per entity, (wire name, column, formatter), computed once from the schema

def _date(value) -> str:
    # isoformat is C and several times faster than strftime; it matches DATE_FORMAT for naive
    # datetimes with a four-digit year (strftime leaves shorter years unpadded)
    if type(value) is datetime and value.tzinfo is None and value.year >= 1000:
        return value.isoformat(" ", "seconds") + " +0000"
    return wire_value(value, "date")


def _formatter(kind: str, name_with_spaces: bool) -> Callable[[object], str] | None:
    """How a value of this attribute becomes text; None: a str stays as it is, an int is str()'d
    (element() does those inline: they are most values)."""
    if name_with_spaces:
        return lambda value: wire_value(osirix_name(str(value)), kind)
    if kind == "date":
        return _date
    if kind in ("string", "int"):
        return None
    return lambda value: wire_value(value, kind)


# A pure constant table derived from ATTRIBUTES: element() walks it instead of re-deciding per
# attribute and row how each value is turned into text.
_PLANS: dict[str, tuple[tuple[str, str, Callable[[object], str] | None], ...]] = {
    entity: tuple((name, attribute.column, _formatter(attribute.kind, attribute.name_with_spaces))
                  for name, attribute in attributes.items())
    for entity, attributes in ATTRIBUTES.items()
}


def element(entity: str, row: Mapping, files_dir: Path | None = None) -> dict[str, str]:
    """Turn a Study/Series/Image/Album row (a mapping of column → value) into its element struct."""
    out: dict[str, str] = {}
    get = row.get
    for name, column, formatter in _PLANS[entity]:
        value = get(column)
        if value is None:
            continue
        if files_dir is not None and name == "path" and entity == "Image":
            out[name] = str(Path(files_dir) / str(value))
        elif formatter is not None:
            out[name] = formatter(value)
        elif type(value) is str:
            out[name] = value
        elif type(value) is int:
            out[name] = str(value)
        else:  # bool, float … in a string or int column: as wire_value has it
            out[name] = wire_value(value, "string")
    return out
