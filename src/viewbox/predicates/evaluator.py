"""In-memory evaluation of a predicate over plain records: the oracle for the SQL compiler.

Records are dicts as in `tests/data/nspredicate-cases.jsonl`: to-many relationships are lists of dicts,
to-one relationships nested dicts, dates `{"$date": iso}` or datetime objects, missing keys and
None are nil. Keys are known if the entity declares them (catalog) or the record carries them;
anything else is an unknown-attribute PredicateError, as in Core Data.

Every operand of AND/OR is evaluated (no short circuit), so that errors do not depend on the
order of the operands — the SQL compiler reports them all, statically.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from viewbox.errors import PredicateError

from . import ast
from .catalog import DEFAULT_CATALOG, Catalog
from .parser import parse
from .values import (
    OsirixName,
    ToMany,
    arithmetic,
    as_name_constant,
    as_utc,
    call_function,
    cast,
    compile_regex,
    describe,
    fold_text,
    index_value,
    kind_of,
    like_regex,
    negate,
    number,
    parse_iso_date,
    resolve_now,
    strip_diacritics,
)
from .variables import bind_date_variables

AGGREGATE_KEYS = ("@sum", "@avg", "@min", "@max")


@dataclass(frozen=True, eq=False)
class Obj:
    """A record (or a related record) with the entity it belongs to, if known."""

    data: dict
    entity: str | None


def evaluate(
    text_or_node: str | ast.Pred,
    record: dict,
    *,
    now: datetime | None = None,
    entity: str = "Study",
    catalog: Catalog | None = None,
    conventional_precedence: bool = False,
    variables: dict[str, Any] | None = None,
) -> bool:
    """Evaluate a predicate against one record; PredicateError for parse and evaluation errors."""
    node = (
        parse(text_or_node, conventional_precedence=conventional_precedence)
        if isinstance(text_or_node, str)
        else text_or_node
    )
    catalog = catalog or DEFAULT_CATALOG
    now = resolve_now(now)
    evaluator = Evaluator(catalog, now)
    root = Obj(record, catalog.entity(entity))
    env = {name: _convert(value) for name, value in (variables or {}).items()}
    try:
        return evaluator.predicate(bind_date_variables(node, now), root, env)
    except RecursionError:
        raise PredicateError("the predicate or the record is nested too deeply", 1) from None


def constant_value(expr: ast.Expr, now: datetime, catalog: Catalog | None = None) -> Any:
    """Evaluate an expression that reads no attribute (the compiler's constant folding)."""
    return Evaluator(catalog or DEFAULT_CATALOG, now).expr(expr, None, {})


def _convert(value: Any) -> Any:
    """Record values → evaluator values (dates become aware UTC datetimes)."""
    if isinstance(value, dict) and set(value) == {"$date"}:
        return parse_iso_date(value["$date"], 1)
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, list):
        return ToMany(_convert(v) if not isinstance(v, dict) else Obj(v, None) for v in value)
    if isinstance(value, dict):
        return Obj(value, None)
    return value


class Evaluator:
    """Evaluates AST nodes; `self_obj` is SELF, `env` maps variable names to values."""

    def __init__(self, catalog: Catalog, now: datetime):
        self.catalog = catalog
        self.now = now

    # ------------------------------------------------------------ predicates

    def predicate(self, node: ast.Pred, self_obj: Any, env: dict) -> bool:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Not):
            return not self.predicate(node.operand, self_obj, env)
        if isinstance(node, ast.Compound):
            results = [self.predicate(p, self_obj, env) for p in node.operands]
            return all(results) if node.op == "AND" else any(results)
        if isinstance(node, ast.Comparison):
            return self.comparison(node, self_obj, env)
        raise PredicateError("expected a predicate", getattr(node, "pos", None))

    def comparison(self, node: ast.Comparison, self_obj: Any, env: dict) -> bool:
        left = self.expr(node.left, self_obj, env)
        right = self.expr(node.right, self_obj, env)
        suffix = ast.fold_options(node.options)
        if node.quantifier:
            if left is None:
                return node.quantifier != "ANY"
            if not isinstance(left, tuple):
                raise PredicateError(
                    f"{node.quantifier} needs a collection on the left, "
                    f"not {describe(left)} ({ast.key_path_text(node.left)})",
                    node.pos,
                )
            results = [self.compare(node.op, item, right, suffix, node) for item in left]
            if node.quantifier == "ANY":
                return any(results)
            if node.quantifier == "ALL":
                return all(results)
            return not any(results)
        return self.compare(node.op, left, right, suffix, node)

    def compare(self, op: str, a: Any, b: Any, suffix: str, node: ast.Comparison) -> bool:
        pos = node.op_pos
        if isinstance(a, OsirixName) or isinstance(b, OsirixName):
            substring = (op in ("BEGINSWITH", "ENDSWITH", "LIKE", "MATCHES")
                         or (op == "IN" and isinstance(b, str)) or (op == "CONTAINS" and isinstance(a, str)))
            if op == "MATCHES" and isinstance(a, OsirixName) and a.stored != a:
                return (self.compare(op, str(a), b, suffix, node)
                        or self.compare(op, a.stored, b, suffix, node))
            a, b = as_name_constant(a, not substring), as_name_constant(b, not substring)
        if op == "IN" and isinstance(b, ToMany):
            return self.member(a, b, suffix)
        if op == "CONTAINS" and isinstance(a, ToMany):
            return self.member(b, a, suffix)
        for value, side in ((a, node.left), (b, node.right)):
            if isinstance(value, ToMany):
                raise PredicateError(
                    f"to-many key path {ast.key_path_text(side)!r} needs ANY, ALL or NONE", pos
                )
        if op == "==":
            return self.equal(a, b, suffix)
        if op == "!=":
            return not self.equal(a, b, suffix)
        if op in ("<", "<=", ">", ">="):
            return self.order(op, a, b, suffix, pos)
        if op == "BETWEEN":
            if b is None:
                return False
            if not isinstance(b, tuple) or len(b) != 2:
                raise PredicateError("BETWEEN needs exactly two bounds: {low, high}", pos)
            low = self.order(">=", a, b[0], "", pos)
            high = self.order("<=", a, b[1], "", pos)
            return low and high
        if op == "IN":
            return self.contains(b, a, suffix, pos)
        if op == "CONTAINS":
            return self.contains(a, b, suffix, pos)
        if op in ("BEGINSWITH", "ENDSWITH"):
            if not self._strings(op, a, b, pos):
                return False
            a, b = fold_text(a, suffix), fold_text(b, suffix)
            if not b:
                return False
            return a.startswith(b) if op == "BEGINSWITH" else a.endswith(b)
        if op == "LIKE":
            if not self._strings(op, a, b, pos):
                return False
            return like_regex(fold_text(b, suffix)).fullmatch(fold_text(a, suffix)) is not None
        if op == "MATCHES":
            if isinstance(b, str):
                pattern = strip_diacritics(b) if "d" in suffix else b
                regex = compile_regex(pattern, "c" in suffix, pos)
            if not self._strings(op, a, b, pos) or not b:
                return False
            subject = strip_diacritics(a) if "d" in suffix else a
            return regex.search(subject) is not None
        raise PredicateError(f"unknown operator {op}", pos)

    def _strings(self, op: str, a: Any, b: Any, pos: int) -> bool:
        """True if both are strings; False if either is nil; an error for any other type."""
        for value in (a, b):
            if value is not None and not isinstance(value, str):
                raise PredicateError(f"{op} needs strings, not {describe(value)}", pos)
        return a is not None and b is not None

    def equal(self, a: Any, b: Any, suffix: str) -> bool:
        if a is None or b is None:
            return a is None and b is None
        kind = kind_of(a)
        if kind != kind_of(b):
            return False
        if kind == "string":
            return fold_text(a, suffix) == fold_text(b, suffix)
        if kind == "date":
            return as_utc(a) == as_utc(b)
        if kind == "collection":
            return len(a) == len(b) and all(self.equal(x, y, suffix) for x, y in zip(a, b, strict=False))
        if kind == "object":
            return a is b
        return a == b

    def order(self, op: str, a: Any, b: Any, suffix: str, pos: int) -> bool:
        if a is None or b is None:
            return a is None and b is None and op in ("<=", ">=")
        kind = kind_of(a)
        if kind != kind_of(b) or kind not in ("number", "string", "date"):
            raise PredicateError(f"cannot order {describe(a)} against {describe(b)} with {op}", pos)
        if kind == "string":
            a, b = fold_text(a, suffix), fold_text(b, suffix)
        elif kind == "date":
            a, b = as_utc(a), as_utc(b)
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        return a >= b

    def member(self, element: Any, collection: tuple, suffix: str) -> bool:
        if element is None:
            return False
        return any(item is not None and self.equal(element, item, suffix) for item in collection)

    def contains(self, container: Any, element: Any, suffix: str, pos: int) -> bool:
        if isinstance(container, tuple):
            return self.member(element, container, suffix)
        if container is None:
            return False
        if isinstance(container, str):
            if element is None:
                return False
            if not isinstance(element, str):
                raise PredicateError(f"CONTAINS on a string needs a string, not {describe(element)}", pos)
            needle = fold_text(element, suffix)
            return bool(needle) and needle in fold_text(container, suffix)
        raise PredicateError(f"{describe(container)} is not a string or a collection", pos)

    # ------------------------------------------------------------ expressions

    def expr(self, node: ast.Expr, self_obj: Any, env: dict) -> Any:
        if isinstance(node, ast.Literal):
            value = node.value
            return as_utc(value) if isinstance(value, datetime) else value
        if isinstance(node, ast.Aggregate):
            return tuple(self.expr(item, self_obj, env) for item in node.items)
        if isinstance(node, ast.SelfRef):
            if self_obj is None:
                raise PredicateError("SELF has no value here", node.pos)
            return self_obj
        if isinstance(node, ast.Variable):
            if node.name not in env:
                raise PredicateError(f"variable ${node.name} is not bound", node.pos)
            return env[node.name]
        if isinstance(node, ast.Key):
            return self.key(node, self_obj, env)
        if isinstance(node, ast.Index):
            base = self.expr(node.base, self_obj, env)
            index = node.index if isinstance(node.index, str) else self.expr(node.index, self_obj, env)
            return index_value(base, index, node.pos)
        if isinstance(node, ast.Function):
            if node.name == "now":
                if node.args:
                    raise PredicateError("now() takes no arguments", node.pos)
                return self.now
            args = [self.expr(a, self_obj, env) for a in node.args]
            return call_function(node.name, args, node.pos)
        if isinstance(node, ast.Cast):
            return cast(self.expr(node.value, self_obj, env), self.expr(node.type, self_obj, env), node.pos)
        if isinstance(node, ast.Subquery):
            collection = self.expr(node.collection, self_obj, env)
            if collection is None:
                return ToMany()
            if not isinstance(collection, tuple):
                raise PredicateError(f"SUBQUERY needs a collection, not {describe(collection)}", node.pos)
            kept = []
            for item in collection:
                if self.predicate(node.predicate, self_obj, {**env, node.var: item}):
                    kept.append(item)
            return ToMany(kept)
        if isinstance(node, ast.Binary):
            left = self.expr(node.left, self_obj, env)
            right = self.expr(node.right, self_obj, env)
            return arithmetic(node.op, left, right, node.pos)
        if isinstance(node, ast.Negate):
            return negate(self.expr(node.operand, self_obj, env), node.pos)
        raise PredicateError("expected a value", getattr(node, "pos", None))

    def key(self, node: ast.Key, self_obj: Any, env: dict) -> Any:
        if isinstance(node.base, ast.Key) and node.base.name in AGGREGATE_KEYS:
            collection = self.expr(node.base.base, self_obj, env)
            if collection is None:
                return None
            if not isinstance(collection, tuple):
                raise PredicateError(f"{node.base.name} needs a collection", node.base.pos)
            return self.aggregate(node.base.name, self.get(collection, node.name, node.pos), node.pos)
        base = self.expr(node.base, self_obj, env)
        if node.name == "@count":
            if base is None:
                return None
            if not isinstance(base, tuple):
                raise PredicateError(f"@count needs a collection, not {describe(base)}", node.pos)
            return len(base)
        if node.name in AGGREGATE_KEYS:
            if base is None:
                return None
            if not isinstance(base, tuple):
                raise PredicateError(f"{node.name} needs a collection", node.pos)
            return self.aggregate(node.name, base, node.pos)
        if node.name.startswith("@"):
            raise PredicateError(f"unsupported collection operator {node.name}", node.pos)
        return self.get(base, node.name, node.pos)

    def aggregate(self, name: str, values: Any, pos: int) -> Any:
        values = [v for v in values if v is not None]
        if name == "@sum":
            if any(kind_of(v) != "number" for v in values):
                raise PredicateError("@sum needs numbers", pos)
            return number(sum(values), pos)
        if name == "@avg":
            if any(kind_of(v) != "number" for v in values):
                raise PredicateError("@avg needs numbers", pos)
            return sum(values) / len(values) if values else None
        if not values:
            return None
        kinds = {kind_of(v) for v in values}
        if len(kinds) != 1 or kinds & {"collection", "object"}:
            raise PredicateError(f"{name} needs values of one type", pos)
        return min(values) if name == "@min" else max(values)

    def get(self, base: Any, key: str, pos: int) -> Any:
        """KVC valueForKey: on a record, a to-many collection (flattened) or nil."""
        if base is None:
            return None
        if isinstance(base, ToMany):
            out: list = []
            for item in base:
                value = self.get(item, key, pos)
                if isinstance(value, ToMany):
                    out.extend(value)
                else:
                    out.append(value)
            return ToMany(out)
        if not isinstance(base, Obj):
            raise PredicateError(f"cannot read key {key!r} of {describe(base)}", pos)
        entity = base.entity
        relationship = self.catalog.relationship(entity, key) if entity else None
        if relationship is not None:
            raw = base.data.get(key)
            if relationship.many:
                return ToMany(Obj(d, relationship.target) for d in (raw or ()))
            return Obj(raw, relationship.target) if isinstance(raw, dict) else None
        attribute = self.catalog.attribute(entity, key) if entity else None
        if key in base.data:
            value = base.data[key]
            if attribute is not None and attribute.name_with_spaces and isinstance(value, str):
                return OsirixName.of(value)
            return _convert(value)
        if attribute is not None:
            return None
        where = f" of {entity}" if entity else ""
        raise PredicateError(f"unknown attribute {key!r}{where}", pos)
