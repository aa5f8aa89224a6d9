"""Smart albums: OsiriX's date variables, local midnight, and the default album predicates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from helpers.predicate_data import drop, make_engine
from viewbox.db import schema
from viewbox.db.schema import with_folds
from viewbox.errors import PredicateError
from viewbox.predicates import album_dates, bind_date_variables, evaluate, parse, smart_album_filter

UTC = UTC
# 2025-03-30 is the spring DST change in Paris (02:00 CET → 03:00 CEST, i.e. 01:00 UTC).
NOW = datetime(2025, 3, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def paris(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_album_dates_use_local_midnight_across_dst(paris):
    dates = album_dates(NOW)
    assert dates["LASTHOUR"] == NOW - timedelta(hours=1)
    assert dates["LAST6HOURS"] == NOW - timedelta(hours=6)
    assert dates["TODAY"] == datetime(2025, 3, 29, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert dates["YESTERDAY"] == datetime(2025, 3, 28, 23, 0, tzinfo=UTC)
    assert dates["WEEK"] == datetime(2025, 3, 22, 23, 0, tzinfo=UTC)
    assert dates["MONTH"] == datetime(2025, 2, 26, 23, 0, tzinfo=UTC)  # 31 days
    assert dates["YEAR"] == datetime(2024, 3, 29, 23, 0, tzinfo=UTC)  # 365 days
    later = album_dates(datetime(2025, 3, 31, 10, 0, tzinfo=UTC))
    assert later["TODAY"] == datetime(2025, 3, 30, 22, 0, tzinfo=UTC)  # 00:00 CEST


def test_variables_are_substituted_in_the_ast(paris):
    node = bind_date_variables(parse("date >= $NSDATE_TODAY AND dateAdded >= $lasthour"), NOW)
    assert evaluate(node, {"date": datetime(2025, 3, 29, 23, 30, tzinfo=UTC), "dateAdded": NOW}) is True
    assert evaluate(node, {"date": datetime(2025, 3, 29, 22, 30, tzinfo=UTC), "dateAdded": NOW}) is False


def test_unknown_variable_is_still_an_error():
    with pytest.raises(PredicateError, match=r"\$NSDATE_SOMEDAY is not bound"):
        smart_album_filter("date >= $NSDATE_SOMEDAY")


STUDIES = [
    # pk, modality, date, date_added, comment
    (1, "CT", datetime(2025, 3, 30, 8, 0), datetime(2025, 3, 30, 9, 30), "follow up"),
    (2, "MR\\CT", datetime(2025, 3, 29, 12, 0), datetime(2025, 3, 29, 12, 0), ""),
    (3, "mr", datetime(2025, 3, 29, 22, 30), datetime(2025, 3, 1), None),
    (4, "US", datetime(2024, 1, 1), datetime(2024, 1, 1), "old"),
]

ALBUMS = [
    ("dateAdded >= $NSDATE_LASTHOUR", {1}),
    ("date >= $NSDATE_LASTHOUR", set()),
    ("modality CONTAINS[cd] 'CT' AND date >= $NSDATE_TODAY", {1}),
    ("modality CONTAINS[cd] 'MR' AND date >= $NSDATE_YESTERDAY AND date <= $NSDATE_TODAY", {2, 3}),
    ("comment != '' AND comment != NIL", {1, 4}),
    ("date >= $TODAY", {1}),
    ("date >= CAST($Yesterday, 'NSDate') AND date < $today", {2, 3}),
    ("dateAdded >= $NSDATE_MONTH", {1, 2, 3}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory):
    engine = make_engine(request.param, tmp_path_factory, [schema.metadata])
    with engine.begin() as conn:
        for pk, modality, date, added, comment in STUDIES:
            row = {"pk": pk, "study_instance_uid": f"1.{pk}", "modality": modality, "date": date,
                   "date_added": added, "comment": comment, "number_of_images": 1}
            conn.execute(insert(schema.study).values(with_folds(schema.study, row)))
    yield engine
    drop(engine, [schema.metadata])


@pytest.mark.parametrize("predicate,expected", ALBUMS, ids=[a[0] for a in ALBUMS])
def test_smart_album(engine, paris, predicate, expected):
    with engine.connect() as conn:
        got = {pk for (pk,) in conn.execute(select(schema.study.c.pk).where(smart_album_filter(predicate, now=NOW)))}
    assert got == expected
    node = bind_date_variables(parse(predicate), NOW)
    records = {
        pk: {"modality": m, "date": d.replace(tzinfo=UTC), "dateAdded": a.replace(tzinfo=UTC), "comment": c}
        for pk, m, d, a, c in STUDIES
    }
    assert {pk for pk, r in records.items() if evaluate(node, r, now=NOW)} == expected
