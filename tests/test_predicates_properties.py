"""Property tests: nothing but PredicateError escapes, and SQL agrees with the evaluator.

One SQLite database per module; each example clears and refills it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from helpers.predicate_data import clear, drop, insert_study, make_engine
from viewbox.db import schema
from viewbox.errors import PredicateError
from viewbox.predicates import DEFAULT_CATALOG, compile_filter, evaluate, parse

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "nspredicate-cases.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
FUZZ_RECORD = {
    "name": "DOE^JOHN", "patientID": "12345", "modality": "CT", "numberOfImages": 12,
    "date": {"$date": "2023-05-01T10:00:00Z"},
    "series": [{"modality": "CT", "numberOfImages": 10, "name": "AXIAL", "images": [{"sopInstanceUID": "1.2"}]}],
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = make_engine("sqlite", tmp_path_factory, [schema.metadata])
    yield engine
    drop(engine, [schema.metadata])


@pytest.fixture(scope="module")
def fuzz_db(engine):
    with engine.begin() as conn:
        clear(conn, DEFAULT_CATALOG)
        insert_study(conn, DEFAULT_CATALOG, FUZZ_RECORD)
    return engine


# ---------------------------------------------------------------- fuzzing

TOKENS = [
    "name", "patientID", "numberOfImages", "date", "series", "images", "study", "modality", ".",
    "==", "=", "!=", "<>", "<", "<=", "=<", ">", ">=", "=>", "AND", "OR", "NOT", "&&", "||", "!",
    "(", ")", "{", "}", "[", "]", ",", "+", "-", "*", "/", "**", "ANY", "ALL", "NONE", "SOME",
    "CONTAINS", "IN", "BEGINSWITH", "ENDSWITH", "LIKE", "MATCHES", "BETWEEN", "[c]", "[cd]", "[x]",
    "'CT'", "'a*b?'", "'[0-9'", "'.*'", '"x"', "'\\u00e9'", "'\\uD800'", "'\\x00'", "12", "0x1F", "1e999",
    "99999999999999999999999", "2.5", "nil", "YES", "NO", "SELF", "$NSDATE_TODAY", "$x", "@count",
    "@sum", "@avg", "@max", "SUBQUERY", "CAST", "now", "'NSDate'", "'NSNumber'", "FIRST", "LAST",
    "SIZE", "#size", "%@", "?", "&", ":=", "TRUEPREDICATE", "FALSEPREDICATE", "lowercase", "abs",
    "FUNCTION", "'2023-05-01T00:00:00Z'", "0", "-", "\\", "'", '"',
]
token_text = st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join)
glued_text = st.lists(st.sampled_from(TOKENS), max_size=10).map("".join)


@st.composite
def mutated_case(draw):
    text = draw(st.sampled_from(CASES))["predicate"]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, len(text)))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[j:] + text[:i]
    return text


def _only_predicate_errors(engine, text: str) -> None:
    for fn in (
        lambda: parse(text),
        lambda: parse(text, conventional_precedence=True),
        lambda: evaluate(text, FUZZ_RECORD, now=NOW),
    ):
        try:
            fn()
        except PredicateError:
            pass
    with engine.connect() as conn:
        for table in ("Study", "Series", "Image", "Album"):
            try:
                expr = compile_filter(text, table, now=NOW)
            except PredicateError:
                continue
            conn.execute(select(schema.TABLES[table].c.pk).where(expr)).all()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(token_text, glued_text, st.text(max_size=40)))
def test_random_text_raises_only_predicate_error(fuzz_db, text):
    _only_predicate_errors(fuzz_db, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_case())
def test_mutated_cases_raise_only_predicate_error(fuzz_db, text):
    _only_predicate_errors(fuzz_db, text)


@pytest.fixture(scope="module")
def postgres_fuzz_db(tmp_path_factory):
    engine = make_engine("postgresql", tmp_path_factory, [schema.metadata])
    with engine.begin() as conn:
        insert_study(conn, DEFAULT_CATALOG, FUZZ_RECORD)
    yield engine
    drop(engine, [schema.metadata])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(mutated_case(), token_text))
def test_fuzz_on_postgresql_raises_only_predicate_error(postgres_fuzz_db, text):
    """PostgreSQL is stricter about types than SQLite: nothing compiled may fail there either."""
    _only_predicate_errors(postgres_fuzz_db, text)


# ---------------------------------------------------------------- SQL == evaluator

STRINGS = [
    "DOE^JOHN", "doe^john", "DOE", "M\u00dcLLER^JOS\u00c9", "Muller^Jose", "MU\u0308LLER", "O'BRIEN",
    "a%b_c", "x*y?z", "", "STRASSE", "stra\u00dfe", "\u03a9mega", "line\nbreak", "KNEE LEFT", "knee",
]
NEEDLES = ["DOE", "doe", "JOHN", "john", "M\u00fcller", "muller", "LLER", "%", "_", "*", "", "^", "E", "e", "ss", "\u00df", "knee", "\n"]
LIKE_PATTERNS = ["*", "DOE*", "doe*", "*JOHN", "?OE*", "m?ller*", "*%*", "*_*", "a%b_c", "x\\*y\\?z", "*E^J*", "", "*\n*", "STRA?E"]
REGEXES = ["DOE.*", ".*JOHN", "[A-Z]+\\^.*", "m.ller.*", ".*", "d.e\\^john", "(CT|MR)", "[0-9]+", "a%b_c"]
MODALITIES = ["CT", "MR", "SR", "ct", "US"]
DATES = [datetime(2023, 5, 1, 10, 0, tzinfo=UTC) + timedelta(days=d, seconds=s) for d in (-400, -1, 0, 1, 30) for s in (0, 1)]


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def date_literal(value: datetime) -> str:
    return f"CAST({quote(value.strftime('%Y-%m-%dT%H:%M:%SZ'))}, 'NSDate')"


OPTIONS = st.sampled_from(["", "[c]", "[d]", "[cd]", "[n]", "[dc]"])
STRING_ATTRS = st.sampled_from(["name", "patientID", "studyName", "comment", "modality"])
ORDER_OPS = st.sampled_from(["<", "<=", ">", ">=", "=<", "=>"])
EQ_OPS = st.sampled_from(["==", "!=", "=", "<>"])


@st.composite
def string_comparison(draw, attr=None):
    attr = attr or draw(STRING_ATTRS)
    opt = draw(OPTIONS)
    kind = draw(st.sampled_from(["eq", "order", "sub", "like", "matches", "in", "const_left", "nil", "between"]))
    if kind == "eq":
        return f"{attr} {draw(EQ_OPS)}{opt} {quote(draw(st.sampled_from(STRINGS)))}"
    if kind == "order":
        return f"{attr} {draw(ORDER_OPS)}{opt} {quote(draw(st.sampled_from(STRINGS)))}"
    if kind == "sub":
        op = draw(st.sampled_from(["BEGINSWITH", "ENDSWITH", "CONTAINS"]))
        return f"{attr} {op}{opt} {quote(draw(st.sampled_from(NEEDLES)))}"
    if kind == "like":
        return f"{attr} LIKE{opt} {quote(draw(st.sampled_from(LIKE_PATTERNS)))}"
    if kind == "matches":
        return f"{attr} MATCHES{opt} {quote(draw(st.sampled_from(REGEXES)))}"
    if kind == "in":
        if draw(st.booleans()):
            return f"{quote(draw(st.sampled_from(NEEDLES)))} IN{opt} {attr}"
        items = draw(st.lists(st.sampled_from(STRINGS + MODALITIES), max_size=3))
        extra = draw(st.sampled_from(["", ", 12", ", nil"]))
        return f"{attr} IN{opt} {{{', '.join(map(quote, items))}{extra if items else ''}}}"
    if kind == "const_left":
        op = draw(st.sampled_from(["BEGINSWITH", "ENDSWITH", "CONTAINS", "==", "<", ">="]))
        return f"{quote(draw(st.sampled_from(STRINGS)))} {op}{opt} {attr}"
    if kind == "between":
        low, high = draw(st.sampled_from(STRINGS)), draw(st.sampled_from(STRINGS))
        return f"{attr} BETWEEN {{{quote(low)}, {quote(high)}}}"
    return f"{attr} {draw(st.sampled_from(['==', '!=']))} nil"


@st.composite
def number_comparison(draw):
    left = draw(st.sampled_from([
        "numberOfImages", "numberOfImages + 1", "numberOfImages * 2 - 4", "numberOfImages / 4",
        "-numberOfImages", "series.@count", "series[SIZE]", "series.@sum.numberOfImages",
        "series.@max.numberOfImages", "series.@min.numberOfImages", "series.@avg.numberOfImages",
        "abs(numberOfImages - 10)", "2 ** 3",
    ]))
    value = draw(st.sampled_from(["0", "1", "2", "3", "5", "10", "12", "2.5", "5.5", "-1", "nil", "0x0C"]))
    kind = draw(st.sampled_from(["cmp", "between", "in", "mismatch"]))
    if kind == "cmp":
        return f"{left} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {value}"
    if kind == "between":
        low, high = draw(st.integers(-1, 12)), draw(st.integers(0, 25))
        return f"{left} BETWEEN {{{low}, {high}}}"
    if kind == "in":
        items = draw(st.lists(st.sampled_from(["1", "2", "10", "12", "2.5", "'12'", "nil"]), max_size=4))
        return f"{left} IN {{{', '.join(items)}}}"
    return f"{left} {draw(st.sampled_from(['==', '!=']))} {quote('12')}"


@st.composite
def date_comparison(draw):
    attr = draw(st.sampled_from(["date", "dateOfBirth"]))
    kind = draw(st.sampled_from(["cmp", "between", "nil", "now", "seconds"]))
    if kind == "cmp":
        return f"{attr} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {date_literal(draw(st.sampled_from(DATES)))}"
    if kind == "between":
        low, high = sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
        return f"{attr} BETWEEN {{{date_literal(low)}, {date_literal(high)}}}"
    if kind == "now":
        return f"{attr} {draw(st.sampled_from(['<', '>']))} CAST(CAST(now(), 'NSNumber') - {draw(st.sampled_from(['86400', '63072000']))}, 'NSDate')"
    if kind == "seconds":
        return f"{attr} >= CAST(704628000, 'NSDate')"
    return f"{attr} {draw(st.sampled_from(['==', '!=']))} nil"


@st.composite
def to_many_comparison(draw):
    kind = draw(st.sampled_from(["quant_str", "quant_num", "member", "contains", "subquery", "count"]))
    quant = draw(st.sampled_from(["ANY", "SOME", "ALL", "NONE"]))
    opt = draw(OPTIONS)
    if kind == "quant_str":
        attr = draw(st.sampled_from(["modality", "name"]))
        inner = draw(string_comparison(attr=f"series.{attr}"))
        if inner.startswith("'"):
            inner = f"series.{attr} == 'CT'"
        return f"{quant} {inner}"
    if kind == "quant_num":
        op = draw(st.sampled_from(["==", "!=", "<", ">=", "BETWEEN"]))
        if op == "BETWEEN":
            return f"{quant} series.numberOfImages BETWEEN {{{draw(st.integers(0, 5))}, {draw(st.integers(5, 20))}}}"
        return f"{quant} series.numberOfImages {op} {draw(st.sampled_from(['0', '1', '5', '10', 'nil', 'numberOfImages']))}"
    if kind == "member":
        return f"{quote(draw(st.sampled_from(MODALITIES)))} IN{opt} series.modality"
    if kind == "contains":
        return f"series.name CONTAINS{opt} {quote(draw(st.sampled_from(['AXIAL', 'axial', 'REPORT', ''])))}"
    if kind == "subquery":
        return (
            f"SUBQUERY(series, $s, $s.modality ==[c] {quote(draw(st.sampled_from(MODALITIES)))} "
            f"AND $s.numberOfImages > {draw(st.integers(0, 10))}).@count {draw(st.sampled_from(['>', '==']))} 0"
        )
    return f"series.@count {draw(st.sampled_from(['==', '>', '<']))} {draw(st.integers(0, 3))}"


leaf = st.one_of(
    string_comparison(), number_comparison(), date_comparison(), to_many_comparison(),
    st.sampled_from(["TRUEPREDICATE", "FALSEPREDICATE", "SELF != nil", "SELF.name == 'DOE^JOHN'"]),
)


def _combine(children):
    return st.one_of(
        children.map(lambda p: f"NOT ({p})"),
        st.lists(children, min_size=2, max_size=3).map(lambda ps: " AND ".join(f"({p})" for p in ps)),
        st.lists(children, min_size=2, max_size=3).map(lambda ps: " OR ".join(f"({p})" for p in ps)),
    )


predicates = st.recursive(leaf, _combine, max_leaves=6)


@st.composite
def series_record(draw):
    record = {"modality": draw(st.sampled_from(MODALITIES + [None])), "numberOfImages": draw(st.integers(0, 20))}
    if draw(st.booleans()):
        record["name"] = draw(st.sampled_from(["AXIAL", "axial", "REPORT", "Axial Ü", None]))
    return record


@st.composite
def study_record(draw):
    record = {"numberOfImages": draw(st.integers(0, 30))}
    for attr in ("name", "patientID", "studyName", "comment", "modality"):
        value = draw(st.sampled_from(STRINGS + MODALITIES + [None, None]))
        if value is not None or draw(st.booleans()):
            record[attr] = value
    for attr in ("date", "dateOfBirth"):
        record[attr] = draw(st.sampled_from(DATES + [None]))
    record["series"] = draw(st.lists(series_record(), max_size=3))
    return record


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(predicate=predicates, records=st.lists(study_record(), min_size=1, max_size=6))
def test_sql_agrees_with_evaluator(engine, predicate, records):
    try:
        expected = {i for i, r in enumerate(records) if evaluate(predicate, r, now=NOW)}
    except PredicateError:
        # Only typed mismatches with nil values differ between the two (the compiler rejects
        # them for every row); those are exercised by the conformance cases.
        with pytest.raises(PredicateError):
            compile_filter(predicate, "Study", now=NOW)
        return
    with engine.begin() as conn:
        clear(conn, DEFAULT_CATALOG)
        pks = [insert_study(conn, DEFAULT_CATALOG, r) for r in records]
        expr = compile_filter(predicate, "Study", now=NOW)
        got = {pk for (pk,) in conn.execute(select(schema.study.c.pk).where(expr))}
    assert got == {pks[i] for i in expected}, predicate
