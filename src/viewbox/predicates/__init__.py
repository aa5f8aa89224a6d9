"""NSPredicate format strings: parse to an AST, compile to SQL, or evaluate in memory.

See NSPREDICATE.md: strict AND/OR mixing by default, [c]/[d]/[cd] through folded shadow
columns, unknown attributes and type errors as PredicateError with a column.
"""

from .albums import album_dates, smart_album_filter, substitute_album_variables
from .ast import Node
from .catalog import DEFAULT_CATALOG, Catalog
from .compiler import compile_filter
from .evaluator import evaluate
from .parser import parse

__all__ = [
    "Catalog",
    "DEFAULT_CATALOG",
    "Node",
    "album_dates",
    "compile_filter",
    "evaluate",
    "parse",
    "smart_album_filter",
    "substitute_album_variables",
]
