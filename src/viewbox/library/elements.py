"""The element structs of spec §3/§5: one row of Study, Series, Image or Album as OsiriX sends it.

All values are strings; dates `YYYY-MM-DD HH:MM:SS +0000`; booleans `1`/`0`; Study.name with
spaces for `^`; absent values left out. Image.path is absolute (PathToFrontDCM, exports).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Mapping

from ..db.schema import ATTRIBUTES

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


def element(entity: str, row: Mapping, files_dir: Path | None = None) -> dict[str, str]:
    """Turn a Study/Series/Image/Album row (a mapping of column → value) into its element struct."""
    out: dict[str, str] = {}
    for name, attribute in ATTRIBUTES[entity].items():
        value = row.get(attribute.column)
        if value is None:
            continue
        if attribute.name_with_spaces:
            value = " ".join(str(value).replace("^", " ").split())
        elif entity == "Image" and name == "path" and files_dir is not None:
            value = str(Path(files_dir) / str(value))
        out[name] = wire_value(value, attribute.kind)
    return out
