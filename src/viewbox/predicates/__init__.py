"""NSPredicate format strings: parse to an AST, compile to SQL, or evaluate in memory.

See docs/predicates.md: strict AND/OR mixing by default, [c]/[d]/[cd] through folded shadow
columns, OsiriX's date variables bound everywhere, patient names compared as OsiriX shows them,
unknown attributes and type errors as PredicateError with a column.
"""

from .albums import smart_album_filter
from .ast import Node
from .catalog import DEFAULT_CATALOG, Catalog
from .compiler import compile_filter
from .evaluator import evaluate
from .parser import parse
from .variables import album_dates, bind_date_variables

__all__ = [
    "Catalog",
    "DEFAULT_CATALOG",
    "Node",
    "album_dates",
    "bind_date_variables",
    "compile_filter",
    "evaluate",
    "parse",
    "smart_album_filter",
]
