"""Recursive-descent parser: NSPredicate format string → AST (docs/predicates.md).

Strict by default: AND and OR mixed at one parenthesis level without parentheses is refused,
because the implementations disagree on their precedence and a wrong guess could `Delete` the
wrong studies. `conventional_precedence=True` makes AND bind tighter instead.

A `(` may open a parenthesised predicate or a parenthesised expression (ambiguity A1); both are
tried, and results are memoised per token index so nested parentheses stay linear.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from viewbox.errors import PredicateError

from . import ast
from .lexer import Token, tokenize

MAX_DEPTH = 60
MAX_CHAIN = 200

COMPARISON_OPS = {
    "=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", ">": ">",
    "<=": "<=", "=<": "<=", ">=": ">=", "=>": ">=",
}
KEYWORD_OPS = {"CONTAINS", "IN", "BEGINSWITH", "ENDSWITH", "LIKE", "MATCHES", "BETWEEN"}
QUANTIFIERS = {"ANY": "ANY", "SOME": "ANY", "ALL": "ALL", "NONE": "NONE"}
FUNCTIONS = frozenset(
    "now lowercase uppercase abs floor ceiling trunc sum count min max average".split()
)
POLICY_KEYWORDS = {
    "FUNCTION": "FUNCTION() is not supported (it calls arbitrary methods)",
    "TERNARY": "TERNARY() is not supported",
    "ANYKEY": "ANYKEY is not supported",
    "FETCH": "FETCH() is not supported",
    "UNION": "set operators are not supported",
    "INTERSECT": "set operators are not supported",
    "INTERSECTION": "set operators are not supported",
    "MINUS": "set operators are not supported",
    "APPLY": "APPLY is not supported",
    "TOKENMATCHES": "TOKENMATCHES is not supported",
}
VALUE_KEYWORDS = {"TRUE": True, "YES": True, "FALSE": False, "NO": False, "NULL": None, "NIL": None}


def parse(text: str, *, conventional_precedence: bool = False) -> ast.Pred:
    """Parse a predicate format string into an AST, or raise PredicateError with the column."""
    tokens = tokenize(text)
    if tokens[0].kind == "EOF":
        raise PredicateError("empty predicate", 1)
    parser = _Parser(tokens, conventional_precedence)
    node = parser.predicate()
    tok = parser.peek()
    if tok.kind != "EOF":
        if tok.kind == "OP" and tok.value == ")":
            raise PredicateError("unbalanced ')'", tok.pos)
        raise PredicateError(f"unexpected {tok.describe()} after a complete predicate (expected AND or OR)", tok.pos)
    return node


class _Parser:
    def __init__(self, tokens: list[Token], conventional: bool):
        self.toks = tokens
        self.i = 0
        self.conventional = conventional
        self.depth = 0
        self.memo_paren: dict[int, tuple[ast.Pred, int] | PredicateError] = {}
        self.memo_expr: dict[int, tuple[ast.Expr, int] | PredicateError] = {}

    # ------------------------------------------------------------ helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def advance(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def previous(self) -> Token | None:
        return self.toks[self.i - 1] if self.i > 0 else None

    def is_op(self, *ops: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "OP" and tok.value in ops

    def close_paren(self, opening) -> None:
        """Consume the ')' that closes `opening`, or say what stands there instead."""
        if not self.is_op(")"):
            nxt = self.peek()
            if nxt.kind == "EOF":
                raise PredicateError(f"expected ')' to close the '(' at column {opening.pos}", nxt.pos)
            raise PredicateError(f"expected ')', found {nxt.describe()}", nxt.pos)
        self.advance()

    def is_kw(self, *kws: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "KEYWORD" and tok.value in kws

    def expect_op(self, op: str, what: str) -> Token:
        if not self.is_op(op):
            tok = self.peek()
            prev = self.previous()
            after = f" after {prev.describe()}" if prev else ""
            raise PredicateError(f"expected {what}{after}, found {tok.describe()}", tok.pos)
        return self.advance()

    @contextmanager
    def nested(self, pos: int) -> Iterator[None]:
        """One level deeper in the grammar; refuses pathological nesting before Python's stack does."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise PredicateError("the predicate is nested too deeply", pos)
            yield
        finally:
            self.depth -= 1

    # ------------------------------------------------------------ predicates

    def predicate(self) -> ast.Pred:
        with self.nested(self.peek().pos):
            items = [self.negation()]
            ops: list[tuple[str, int]] = []
            while self.is_kw("AND", "OR") or self.is_op("&&", "||"):
                tok = self.advance()
                op = "AND" if tok.value in ("AND", "&&") else "OR"
                ops.append((op, tok.pos))
                if self.peek().kind == "EOF":
                    raise PredicateError(f"expected a predicate after {tok.describe()}", self.peek().pos)
                items.append(self.negation())
        if not ops:
            return items[0]
        kinds = {op for op, _ in ops}
        if len(kinds) == 1:
            return ast.Compound(ops[0][0], tuple(items), _pos(items[0]))
        if not self.conventional:
            first = ops[0][0]
            bad = next(pos for op, pos in ops if op != first)
            raise PredicateError("mixed AND/OR requires parentheses", bad)
        groups: list[list[ast.Pred]] = [[items[0]]]
        for (op, _), item in zip(ops, items[1:], strict=False):
            if op == "AND":
                groups[-1].append(item)
            else:
                groups.append([item])
        disjuncts = [
            g[0] if len(g) == 1 else ast.Compound("AND", tuple(g), _pos(g[0])) for g in groups
        ]
        return ast.Compound("OR", tuple(disjuncts), _pos(items[0]))

    def negation(self) -> ast.Pred:
        if self.is_kw("NOT") or self.is_op("!"):
            tok = self.advance()
            if self.peek().kind == "EOF":
                raise PredicateError(f"expected a predicate after {tok.describe()}", self.peek().pos)
            with self.nested(tok.pos):
                return ast.Not(self.negation(), tok.pos)
        return self.atom()

    def atom(self) -> ast.Pred:
        tok = self.peek()
        if self.is_kw("TRUEPREDICATE", "FALSEPREDICATE"):
            self.advance()
            return ast.Constant(tok.value == "TRUEPREDICATE", tok.pos)
        if self.is_op("("):
            start = self.i
            result = self.memo_paren.get(start)
            if result is None:
                try:
                    self.advance()
                    inner = self.predicate()
                    self.close_paren(tok)
                    result = (inner, self.i)
                except PredicateError as exc:
                    result = exc
                self.memo_paren[start] = result
                self.i = start
            if isinstance(result, tuple):
                self.i = result[1]
                if not self._at_comparison_op() and not self.is_op("+", "-", "*", "/", "**", ".", "["):
                    return result[0]
                self.i = start
            try:
                return self.comparison()
            except PredicateError as exc2:
                if isinstance(result, PredicateError) and (result.position or 0) > (exc2.position or 0):
                    raise result from None
                raise
        return self.comparison()

    def _at_comparison_op(self) -> bool:
        tok = self.peek()
        return (tok.kind == "OP" and tok.value in COMPARISON_OPS) or (
            tok.kind == "KEYWORD" and tok.value in KEYWORD_OPS
        )

    def comparison(self) -> ast.Comparison:
        start = self.peek()
        quantifier = None
        if start.kind == "KEYWORD" and start.value in QUANTIFIERS:
            quantifier = QUANTIFIERS[start.value]
            self.advance()
        if not self._starts_value():
            tok = self.peek()
            if tok.kind == "EOF" and quantifier:
                raise PredicateError(f"expected a key path after {start.describe()}", tok.pos)
            if tok.kind == "OP" and tok.value == ")":
                raise PredicateError("unbalanced ')' (or an empty pair of parentheses)", tok.pos)
            if tok.kind == "EOF":
                raise PredicateError("expected a predicate, found the end of the predicate", tok.pos)
            raise PredicateError(f"expected a predicate, found {tok.describe()}", tok.pos)
        left = self.expression()
        tok = self.peek()
        if tok.kind == "OP" and tok.value in COMPARISON_OPS:
            op = COMPARISON_OPS[tok.value]
        elif tok.kind == "KEYWORD" and tok.value in KEYWORD_OPS:
            op = tok.value
        else:
            prev = self.previous()
            if self.is_kw("NOT") and self.is_kw("IN", ahead=1):
                raise PredicateError("'NOT IN' is not an operator; write NOT (x IN {…})", tok.pos)
            if quantifier and tok.kind == "EOF":
                raise PredicateError(
                    f"expected a comparison operator after '{start.text} {ast.key_path_text(left)}'", tok.pos
                )
            what = f" after {prev.describe()}" if prev else ""
            raise PredicateError(f"expected a comparison operator{what}, found {tok.describe()}", tok.pos)
        self.advance()
        options = self.options(tok)
        if op == "BETWEEN" and options:
            raise PredicateError("BETWEEN takes no options", tok.pos)
        if not self._starts_value():
            nxt = self.peek()
            raise PredicateError(f"expected a value after {tok.describe()}", nxt.pos)
        right = self.expression()
        if self._at_comparison_op():
            nxt = self.peek()
            raise PredicateError("comparisons cannot be chained (combine them with AND)", nxt.pos)
        return ast.Comparison(left, op, right, options, quantifier, start.pos, tok.pos)

    def options(self, op_tok: Token) -> str:
        if not self.is_op("["):
            return ""
        bracket = self.advance()
        tok = self.peek()
        if tok.kind not in ("IDENT", "KEYWORD"):
            raise PredicateError(f"expected option letters (c, d, n, l) after {op_tok.describe()}[", tok.pos)
        letters = tok.text.lower()
        bad = [ch for ch in letters if ch not in "cdnl"]
        if bad:
            raise PredicateError(f"unknown comparison option {bad[0]!r} (use c, d, n or l)", tok.pos)
        self.advance()
        self.expect_op("]", "']' to close the options")
        del bracket
        return "".join(sorted(set(letters)))

    # ------------------------------------------------------------ expressions

    def _starts_value(self) -> bool:
        tok = self.peek()
        if tok.kind in ("STRING", "NUMBER", "IDENT", "VAR", "ATKEY"):
            return True
        if tok.kind == "KEYWORD":
            return tok.value in VALUE_KEYWORDS or tok.value in (
                "SELF", "SUBQUERY", "CAST", "FIRST", "LAST", "SIZE"
            ) or tok.value in POLICY_KEYWORDS
        return tok.kind == "OP" and tok.value in ("(", "{", "-")

    def expression(self) -> ast.Expr:
        start = self.i
        cached = self.memo_expr.get(start)
        if cached is not None:
            if isinstance(cached, PredicateError):
                raise cached
            self.i = cached[1]
            return cached[0]
        with self.nested(self.peek().pos):
            try:
                node = self.additive()
                self.memo_expr[start] = (node, self.i)
                return node
            except PredicateError as exc:
                self.memo_expr[start] = exc
                raise

    def _binary_chain(self, operand, ops: tuple[str, ...]) -> ast.Expr:
        left = operand()
        count = 0
        while self.is_op(*ops):
            tok = self.advance()
            count += 1
            if count > MAX_CHAIN:
                raise PredicateError("too many operators in one expression", tok.pos)
            if not self._starts_value():
                raise PredicateError(f"expected a value after {tok.describe()}", self.peek().pos)
            right = operand()
            left = ast.Binary(tok.value, left, right, tok.pos)
        return left

    def additive(self) -> ast.Expr:
        return self._binary_chain(self.multiplicative, ("+", "-"))

    def multiplicative(self) -> ast.Expr:
        return self._binary_chain(self.power, ("*", "/"))

    def power(self) -> ast.Expr:
        return self._binary_chain(self.unary, ("**",))

    def unary(self) -> ast.Expr:
        if self.is_op("-"):
            tok = self.advance()
            if not self._starts_value():
                raise PredicateError("expected a value after '-'", self.peek().pos)
            with self.nested(tok.pos):
                return ast.Negate(self.unary(), tok.pos)
        return self.postfix()

    def postfix(self) -> ast.Expr:
        node = self.primary()
        count = 0
        while self.is_op(".", "["):
            tok = self.advance()
            count += 1
            if count > MAX_CHAIN:
                raise PredicateError("key path too long", tok.pos)
            if tok.value == ".":
                key = self.peek()
                if key.kind == "IDENT":
                    self.advance()
                    node = ast.Key(node, key.value, key.pos)
                elif key.kind == "ATKEY":
                    self.advance()
                    node = ast.Key(node, "@" + key.value, key.pos)
                elif key.kind == "KEYWORD":
                    raise PredicateError(
                        f"{key.text!r} is a reserved word; write #{key.text} to use it as a key", key.pos
                    )
                else:
                    raise PredicateError(f"expected a key after '.', found {key.describe()}", key.pos)
            else:
                if self.is_kw("FIRST", "LAST", "SIZE"):
                    index: str | ast.Expr = self.advance().value
                elif self._starts_value():
                    index = self.expression()
                else:
                    raise PredicateError(
                        f"expected FIRST, LAST, SIZE or an index after '[', found {self.peek().describe()}",
                        self.peek().pos,
                    )
                self.expect_op("]", "']'")
                node = ast.Index(node, index, tok.pos)
        return node

    def primary(self) -> ast.Expr:
        tok = self.peek()
        if tok.kind in ("STRING", "NUMBER"):
            self.advance()
            return ast.Literal(tok.value, tok.pos)
        if tok.kind == "VAR":
            self.advance()
            return ast.Variable(tok.value, tok.pos)
        if tok.kind == "ATKEY":
            self.advance()
            return ast.Key(ast.SelfRef(tok.pos), "@" + tok.value, tok.pos)
        if tok.kind == "IDENT":
            self.advance()
            if self.is_op("("):
                return self.function(tok)
            return ast.Key(ast.SelfRef(tok.pos), tok.value, tok.pos)
        if tok.kind == "KEYWORD":
            word = tok.value
            if word in VALUE_KEYWORDS:
                self.advance()
                return ast.Literal(VALUE_KEYWORDS[word], tok.pos)
            if word == "SELF":
                self.advance()
                return ast.SelfRef(tok.pos)
            if word == "SUBQUERY":
                return self.subquery()
            if word == "CAST":
                return self.cast()
            if word in POLICY_KEYWORDS:
                raise PredicateError(POLICY_KEYWORDS[word], tok.pos)
            raise PredicateError(
                f"{tok.text!r} is a reserved word; write #{tok.text} to use it as a key", tok.pos
            )
        if tok.kind == "OP" and tok.value == "{":
            return self.aggregate()
        if tok.kind == "OP" and tok.value == "(":
            self.advance()
            inner = self.expression()
            self.close_paren(tok)
            return inner
        raise PredicateError(f"expected a value, found {tok.describe()}", tok.pos)

    def function(self, name_tok: Token) -> ast.Function:
        name = name_tok.value.lower()
        if name not in FUNCTIONS:
            raise PredicateError(f"unknown function {name_tok.value!r}", name_tok.pos)
        self.advance()  # (
        args: list[ast.Expr] = []
        if not self.is_op(")"):
            args.append(self._argument(name_tok))
            while self.is_op(","):
                self.advance()
                args.append(self._argument(name_tok))
        self.expect_op(")", f"')' to close {name_tok.value}(")
        return ast.Function(name, tuple(args), name_tok.pos)

    def _argument(self, owner: Token) -> ast.Expr:
        if not self._starts_value():
            tok = self.peek()
            raise PredicateError(f"expected an argument of {owner.text}, found {tok.describe()}", tok.pos)
        return self.expression()

    def aggregate(self) -> ast.Aggregate:
        open_tok = self.advance()
        items: list[ast.Expr] = []
        if not self.is_op("}"):
            while True:
                if not self._starts_value():
                    tok = self.peek()
                    if tok.kind == "EOF":
                        raise PredicateError("unbalanced '{' (expected '}')", open_tok.pos)
                    raise PredicateError(f"expected a value in {{…}}, found {tok.describe()}", tok.pos)
                items.append(self.expression())
                if len(items) > 10_000:
                    raise PredicateError("too many values in {…}", open_tok.pos)
                if not self.is_op(","):
                    break
                self.advance()
        self.expect_op("}", "',' or '}'")
        return ast.Aggregate(tuple(items), open_tok.pos)

    def subquery(self) -> ast.Subquery:
        tok = self.advance()
        self.expect_op("(", "'(' after SUBQUERY")
        collection = self._argument(tok)
        self.expect_op(",", "',' after the SUBQUERY collection")
        var = self.peek()
        if var.kind != "VAR":
            raise PredicateError(f"expected a $variable in SUBQUERY, found {var.describe()}", var.pos)
        self.advance()
        self.expect_op(",", "',' after the SUBQUERY variable")
        if self.peek().kind == "EOF":
            raise PredicateError("expected a predicate in SUBQUERY", self.peek().pos)
        predicate = self.predicate()
        self.expect_op(")", "')' to close SUBQUERY(")
        return ast.Subquery(collection, var.value, predicate, tok.pos)

    def cast(self) -> ast.Cast:
        tok = self.advance()
        self.expect_op("(", "'(' after CAST")
        value = self._argument(tok)
        self.expect_op(",", "',' and a type name in CAST")
        type_ = self._argument(tok)
        self.expect_op(")", "')' to close CAST(")
        return ast.Cast(value, type_, tok.pos)


def _pos(node) -> int:
    return getattr(node, "pos", 1)
