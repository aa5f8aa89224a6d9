"""The predicate AST: immutable nodes shared by the parser, the SQL compiler and the evaluator.

Every node carries `pos`, the 1-based column of its first character, so that compile-time and
evaluation errors can point at the part of the request that caused them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Literal:
    """A constant: str, int, float, bool, None, or a datetime (only after album substitution)."""

    value: Any
    pos: int


@dataclass(frozen=True)
class Aggregate:
    """`{a, b, …}`: a literal collection."""

    items: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True)
class SelfRef:
    """`SELF`: the row being tested (also the implicit base of every key path)."""

    pos: int


@dataclass(frozen=True)
class Variable:
    """`$name`: bound by SUBQUERY or by smart-album substitution; unbound is an error."""

    name: str
    pos: int


@dataclass(frozen=True)
class Key:
    """`base.key`; a bare identifier is `Key(SelfRef, name)`. `@count` etc. keep their `@`."""

    base: Expr
    name: str
    pos: int


@dataclass(frozen=True)
class Index:
    """`base[index]`: `index` is "FIRST", "LAST", "SIZE" or an expression."""

    base: Expr
    index: str | Expr
    pos: int


@dataclass(frozen=True)
class Function:
    """A whitelisted function call such as `now()`; `name` is lower-cased."""

    name: str
    args: tuple[Expr, ...]
    pos: int


@dataclass(frozen=True)
class Cast:
    """`CAST(value, 'NSDate')` and friends."""

    value: Expr
    type: Expr
    pos: int


@dataclass(frozen=True)
class Subquery:
    """`SUBQUERY(collection, $var, predicate)`: the elements for which the predicate holds."""

    collection: Expr
    var: str
    predicate: Pred
    pos: int


@dataclass(frozen=True)
class Binary:
    """Arithmetic: op is one of + - * / **."""

    op: str
    left: Expr
    right: Expr
    pos: int


@dataclass(frozen=True)
class Negate:
    """Unary minus."""

    operand: Expr
    pos: int


Expr = Literal | Aggregate | SelfRef | Variable | Key | Index | Function | Cast | Subquery | Binary | Negate


# ---------------------------------------------------------------- predicates


@dataclass(frozen=True)
class Constant:
    """TRUEPREDICATE / FALSEPREDICATE."""

    value: bool
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Pred
    pos: int


@dataclass(frozen=True)
class Compound:
    """An n-ary AND or OR (runs of one operator are flattened)."""

    op: str  # "AND" | "OR"
    operands: tuple[Pred, ...]
    pos: int


@dataclass(frozen=True)
class Comparison:
    """`[quantifier] left op[options] right`.

    op is one of == != < <= > >= CONTAINS IN BEGINSWITH ENDSWITH LIKE MATCHES BETWEEN;
    options is a subset of "cdnl" (normalised: lower case, sorted); quantifier is ANY, ALL,
    NONE or None (SOME is stored as ANY).
    """

    left: Expr
    op: str
    right: Expr
    options: str
    quantifier: str | None
    pos: int
    op_pos: int


Pred = Constant | Not | Compound | Comparison
Node = Pred | Expr


def fold_options(options: str) -> str:
    """The fold suffix ("", "c", "d" or "cd") that `options` ask for; [n] means compare literally."""
    if "n" in options:
        return ""
    return ("c" if "c" in options else "") + ("d" if "d" in options else "")


def key_path_text(expr: Expr) -> str:
    """Render a key path for error messages (`series.modality`)."""
    if isinstance(expr, Key):
        if isinstance(expr.base, SelfRef):
            return expr.name
        return f"{key_path_text(expr.base)}.{expr.name}"
    if isinstance(expr, SelfRef):
        return "SELF"
    if isinstance(expr, Variable):
        return f"${expr.name}"
    if isinstance(expr, Index):
        index = expr.index if isinstance(expr.index, str) else "…"
        return f"{key_path_text(expr.base)}[{index}]"
    if isinstance(expr, Subquery):
        return "SUBQUERY(…)"
    return "expression"
