"""Parser behaviour the conformance cases do not pin down: positions, precedence modes, AST shape."""

from __future__ import annotations

import pytest

from viewbox.errors import PredicateError
from viewbox.predicates import ast, evaluate, parse


def error_of(text: str, **kw) -> PredicateError:
    with pytest.raises(PredicateError) as info:
        parse(text, **kw)
    return info.value


def test_error_names_position_and_expectation():
    err = error_of("patientID == ")
    assert err.position == 14
    assert str(err) == "expected a value after '==' at column 14"


def test_mixed_and_or_refused_by_default_with_position():
    err = error_of("a == 1 AND b == 2 OR c == 3")
    assert "mixed AND/OR requires parentheses" in err.message
    assert err.position == 19


def test_conventional_precedence_binds_and_tighter():
    node = parse("name == 'X' OR modality == 'CT' AND numberOfImages == 99", conventional_precedence=True)
    assert isinstance(node, ast.Compound) and node.op == "OR"
    assert isinstance(node.operands[1], ast.Compound) and node.operands[1].op == "AND"
    record = {"name": "X", "modality": "MR", "numberOfImages": 1}
    # AND tighter: X OR (MR==CT AND …) → true; OR tighter would give false.
    assert evaluate(node, record) is True


def test_parentheses_make_mixing_explicit():
    node = parse("(a == 1 AND b == 2) OR c == 3")
    assert node.op == "OR" and node.operands[0].op == "AND"


def test_not_binds_tighter_than_and():
    node = parse("NOT a == 1 AND b == 2")
    assert node.op == "AND" and isinstance(node.operands[0], ast.Not)


def test_parenthesised_expression_on_the_left():
    node = parse("(numberOfImages + 1) > 5")
    assert isinstance(node, ast.Comparison) and isinstance(node.left, ast.Binary)
    node = parse("((numberOfImages) > 5)")
    assert isinstance(node, ast.Comparison)


def test_deep_parentheses_stay_fast_and_are_bounded():
    parse("(" * 40 + "numberOfImages" + ")" * 40 + " > 1")
    parse("(" * 40 + "numberOfImages > 1" + ")" * 40)
    assert "nested too deeply" in error_of("(" * 500 + "a == 1" + ")" * 500).message
    assert "nested too deeply" in error_of("NOT " * 500 + "a == 1").message


def test_long_operator_chain_is_refused_not_crashing():
    assert "too many operators" in error_of("numberOfImages" + " + 1" * 1000 + " > 1").message


def test_options_are_normalised():
    node = parse("name LIKE[DC] 'x'")
    assert node.options == "cd"
    assert parse("name ==[n] 'x'").options == "n"
    assert "BETWEEN takes no options" in error_of("n BETWEEN[c] {1, 2}").message


def test_some_is_any_and_keywords_are_case_insensitive():
    node = parse("some series.modality == 'CT'")
    assert node.quantifier == "ANY"
    assert parse("truepredicate").value is True


def test_string_escapes():
    assert parse(r"name == '\x41\u00e9\101\t\q'").right.value == "A\u00e9A\tq"
    assert parse(r"name == '\uD83D\uDE00'").right.value == "\U0001F600"
    assert "surrogate" in error_of(r"name == '\uD800'").message
    assert "NUL" in error_of(r"name == '\x00'").message


def test_numbers():
    assert parse("n == 0x1F").right.value == 31
    assert parse("n == 0o17").right.value == 15
    assert parse("n == 0b101").right.value == 5
    assert parse("n == 012").right.value == 12
    assert parse("n == 1.5e2").right.value == 150.0
    assert isinstance(parse("n == 99999999999999999999999").right.value, float)
    assert "out of range" in error_of("n == 1e999").message


def test_policy_rejections():
    for text, words in [
        ("name == %K", "format specifiers"),
        ("$a := 1", "assignment"),
        ("FUNCTION(SELF, 'x') == 1", "FUNCTION"),
        ("TERNARY(a == 1, 1, 2) == 1", "TERNARY"),
        ("name UTI-CONFORMS-TO 'x'", "UTI"),
        ("foo(1) == 1", "unknown function"),
    ]:
        assert words in error_of(text).message, text


def test_keys_after_reserved_words_need_hash():
    assert isinstance(parse("#size == 3").left, ast.Key)
    assert "reserved word" in error_of("series.size == 3").message
    assert parse("series.#size == 3").left.name == "size"


def test_subquery_and_cast_shapes():
    node = parse("SUBQUERY(series, $s, $s.modality == 'CT').@count > 0")
    assert isinstance(node.left, ast.Key) and isinstance(node.left.base, ast.Subquery)
    assert node.left.base.var == "s"
    node = parse("date > CAST(CAST(now(), 'NSNumber') - 86400, 'NSDate')")
    assert isinstance(node.right, ast.Cast)


def test_non_string_input_is_a_predicate_error():
    with pytest.raises(PredicateError):
        parse(None)  # type: ignore[arg-type]
