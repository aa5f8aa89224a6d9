"""Tokenizer for NSPredicate format strings (docs/predicates.md, Syntax).

Keywords are case-insensitive whole words; identifiers are case-sensitive; `#word` escapes a
reserved word. Strings decode Apportable's escape set. Anything the project refuses on policy
(`%@`, `:=`, a lone `&`) is refused here, with its column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from viewbox.errors import PredicateError

RESERVED = frozenset(
    """AND OR IN NOT ALL ANY SOME NONE LIKE CASEINSENSITIVE CI MATCHES CONTAINS BEGINSWITH
    ENDSWITH BETWEEN NULL NIL SELF TRUE YES FALSE NO FIRST LAST SIZE ANYKEY SUBQUERY FETCH CAST
    TRUEPREDICATE FALSEPREDICATE UTI-CONFORMS-TO UTI-EQUALS FUNCTION APPLY UNION INTERSECTION
    INTERSECT MINUS TOKENMATCHES TERNARY""".split()
)

MAX_LENGTH = 100_000

# Longest first, so that `==` wins over `=`, `**` over `*`, `!=` over `!`.
OPERATORS = (
    "==", "!=", "<>", "<=", "=<", ">=", "=>", "&&", "||", "**", ":=",
    "=", "<", ">", "!", "+", "-", "*", "/", "(", ")", "{", "}", "[", "]", ",", ".",
)

_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"',
}


@dataclass(frozen=True)
class Token:
    """kind: STRING NUMBER IDENT KEYWORD VAR ATKEY OP EOF. `value` is decoded; `text` is the source."""

    kind: str
    value: Any  # str for STRING/IDENT/KEYWORD/VAR/ATKEY/OP, int or float for NUMBER
    pos: int
    text: str

    def describe(self) -> str:
        if self.kind == "EOF":
            return "the end of the predicate"
        return repr(self.text)


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_ident_char(ch: str) -> bool:
    return _is_ident_start(ch) or ch.isdigit() and ch.isascii()


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with an EOF token; PredicateError on anything invalid."""
    if not isinstance(text, str):
        raise PredicateError("the predicate must be a string", 1)
    if len(text) > MAX_LENGTH:
        raise PredicateError(f"the predicate is longer than {MAX_LENGTH} characters", 1)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n\f":
            i += 1
            continue
        pos = i + 1
        if ch in "'\"":
            value, i = _string(text, i)
            tokens.append(Token("STRING", value, pos, text[pos - 1 : i]))
            continue
        if ch.isdigit() and ch.isascii():
            number, i = _number(text, i)
            tokens.append(Token("NUMBER", number, pos, text[pos - 1 : i]))
            continue
        if _is_ident_start(ch) or ch == "#":
            escaped = ch == "#"
            start = i + 1 if escaped else i
            j = start
            if j >= n or not _is_ident_start(text[j]):
                raise PredicateError("expected an identifier after '#'", pos)
            while j < n and _is_ident_char(text[j]):
                j += 1
            word = text[start:j]
            if not escaped and word.upper() == "UTI":
                for suffix in ("-CONFORMS-TO", "-EQUALS"):
                    if text[j : j + len(suffix)].upper() == suffix:
                        raise PredicateError(f"UTI{suffix} is not supported", pos)
            if not escaped and word.upper() in RESERVED:
                tokens.append(Token("KEYWORD", word.upper(), pos, word))
            else:
                tokens.append(Token("IDENT", word, pos, text[i:j]))
            i = j
            continue
        if ch in "$@":
            j = i + 1
            # `$2DAYS` is an OsiriX smart-album token, so variables may start with a digit.
            while j < n and _is_ident_char(text[j]):
                j += 1
            if j == i + 1 or (ch == "@" and not _is_ident_start(text[i + 1])):
                what = "a variable name" if ch == "$" else "a collection operator such as @count"
                raise PredicateError(f"expected {what} after {ch!r}", pos)
            kind = "VAR" if ch == "$" else "ATKEY"
            tokens.append(Token(kind, text[i + 1 : j], pos, text[i:j]))
            i = j
            continue
        if ch == "%":
            raise PredicateError(
                "format specifiers such as %@ and %K are not supported (there are no arguments)", pos
            )
        for op in OPERATORS:
            if text.startswith(op, i):
                if op == ":=":
                    raise PredicateError("assignment ':=' is not supported", pos)
                tokens.append(Token("OP", op, pos, op))
                i += len(op)
                break
        else:
            if ch in "&|":
                raise PredicateError(f"unexpected {ch!r} (write {ch * 2} or {'AND' if ch == '&' else 'OR'})", pos)
            raise PredicateError(f"unexpected character {ch!r}", pos)
    tokens.append(Token("EOF", None, n + 1, ""))
    return tokens


def _string(text: str, i: int) -> tuple[str, int]:
    """Decode the string literal starting at text[i]; return it and the index after its quote."""
    quote = text[i]
    start = i
    out: list[str] = []
    i += 1
    n = len(text)
    while True:
        if i >= n:
            raise PredicateError("unterminated string (expected a closing " + quote + ")", start + 1)
        ch = text[i]
        if ch == quote:
            i += 1
            break
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                i += 2
            elif nxt == "x" and _hex(text[i + 2 : i + 4], 2):
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
            elif nxt == "u" and _hex(text[i + 2 : i + 6], 4):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
            elif len(text[i + 1 : i + 4]) == 3 and all(c in "01234567" for c in text[i + 1 : i + 4]):
                code = int(text[i + 1 : i + 4], 8)
                out.append(chr(code))
                i += 4
            else:
                out.append(nxt)
                i += 2
            continue
        out.append(ch)
        i += 1
    value = _join_surrogates("".join(out), start + 1)
    if "\x00" in value:
        raise PredicateError("NUL characters are not allowed in strings", start + 1)
    return value, i


def _hex(chunk: str, width: int) -> bool:
    return len(chunk) == width and all(c in "0123456789abcdefABCDEF" for c in chunk)


def _join_surrogates(value: str, pos: int) -> str:
    """Combine `\\uD83D\\uDE00` pairs; a lone surrogate cannot be stored, so it is an error."""
    if not any("\ud800" <= c <= "\udfff" for c in value):
        return value
    try:
        return value.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise PredicateError("invalid \\u escape (unpaired surrogate) in string", pos) from None


def _number(text: str, i: int) -> tuple[int | float, int]:
    """Read a numeric literal (decimal, exponent, 0x, 0o, 0b; no sign); leading zeros are decimal."""
    start = i
    n = len(text)
    pos = start + 1
    if text[i] == "0" and i + 1 < n and text[i + 1] in "xXoObB":
        base = {"x": 16, "o": 8, "b": 2}[text[i + 1].lower()]
        digits = {16: "0123456789abcdefABCDEF", 8: "01234567", 2: "01"}[base]
        j = i + 2
        while j < n and text[j] in digits:
            j += 1
        if j == i + 2:
            raise PredicateError("expected digits after " + text[i : i + 2], pos)
        if j < n and (_is_ident_char(text[j])):
            raise PredicateError(f"invalid number {text[start:j + 1]!r}", pos)
        return _in_range(int(text[i + 2 : j], base), pos), j
    j = i
    while j < n and text[j].isascii() and text[j].isdigit():
        j += 1
    is_float = False
    if j + 1 < n and text[j] == "." and text[j + 1].isascii() and text[j + 1].isdigit():
        is_float = True
        j += 1
        while j < n and text[j].isascii() and text[j].isdigit():
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isascii() and text[k].isdigit():
            is_float = True
            j = k
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
    if j < n and _is_ident_char(text[j]):
        raise PredicateError(f"invalid number {text[start:j + 1]!r} (identifiers cannot start with a digit)", pos)
    literal = text[start:j]
    if is_float:
        value = float(literal)
        if value != value or value in (float("inf"), float("-inf")):
            raise PredicateError(f"number {literal!r} is out of range", pos)
        return value, j
    if len(literal) > 19:
        return _in_range(float(literal), pos), j
    return _in_range(int(literal, 10), pos), j


INT64 = 2**63 - 1


def _in_range(value: int | float, pos: int) -> int | float:
    """Keep integers within 64 bits (larger ones become floats) and refuse infinities."""
    if isinstance(value, int) and abs(value) > INT64:
        value = float(value) if value.bit_length() < 1024 else float("inf")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise PredicateError("number is out of range", pos)
    return value
