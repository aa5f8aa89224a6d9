"""Regular albums through the Library (the one write path), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from viewbox.db import schema
from viewbox.errors import BadRequest, NotFound
from viewbox.library import queries


def study_pks(workstation) -> list[int]:
    with workstation.database.read() as conn:
        return list(conn.scalars(select(schema.study.c.pk).order_by(schema.study.c.pk)))


def members(workstation, name: str) -> set[int]:
    album = queries.album_by_name(workstation.database, name)
    with workstation.database.read() as conn:
        return set(conn.scalars(select(schema.album_study.c.study_pk)
                                .where(schema.album_study.c.album_pk == album["pk"])))


def test_albums_are_created_filled_and_emptied(workstation, samples):
    workstation.import_paths([samples / "pydicom/test_files/dicomdirtests"])
    pks = study_pks(workstation)[:3]
    library = workstation.library
    assert library.albums.create("  Teaching files ") == "Teaching files"
    album = queries.album_by_name(workstation.database, "Teaching files")
    assert not album["smart_album"] and album["name__cd"] == "teaching files"
    assert library.albums.add("Teaching files", pks + pks[:1]) == 3
    assert library.albums.add("Teaching files", pks[:2]) == 0
    assert members(workstation, "Teaching files") == set(pks)
    assert library.albums.remove("Teaching files", pks[:2] + [10**9]) == 2
    assert members(workstation, "Teaching files") == {pks[2]}
    assert len(study_pks(workstation)) == 6  # removing from an album keeps the study


@pytest.mark.parametrize("name, reason", [
    ("", "needs a name"), ("   ", "needs a name"), ("x" * 65, "at most 64"),
    ("interesting CASES", "already exists"), ("database", "every study"),
])
def test_album_names_that_would_be_ambiguous_or_empty_are_refused(workstation, name, reason):
    before = queries.albums(workstation.database)
    with pytest.raises(BadRequest, match=reason):
        workstation.library.albums.create(name)
    assert queries.albums(workstation.database) == before
    assert workstation.library.albums.create("x" * 64) == "x" * 64


def test_smart_and_unknown_albums_have_no_members_to_change(workstation, samples):
    workstation.import_paths([samples / "pydicom/test_files/CT_small.dcm"])
    [pk] = study_pks(workstation)
    for change in (workstation.library.albums.add, workstation.library.albums.remove):
        with pytest.raises(BadRequest, match="smart album"):
            change("Just Opened", [pk])
        with pytest.raises(NotFound):
            change("No such album", [pk])
    assert members(workstation, "Just Opened") == set()
    assert queries.album_by_name(workstation.database, "No such album") is None
