"""The study database schema and the one table mapping OsiriX attribute names to columns.

Columns use the snake_case of the DICOM keyword (house style); the wire and the predicate
language use OsiriX's names (docs/osirix-names.md). `ATTRIBUTES` is the single place where the two
meet: the element structs, the predicate compiler and the UI all read it.

Every text attribute that predicates may compare with `[c]`, `[d]` or `[cd]` has folded shadow
columns (`<col>__c`, `<col>__d`, `<col>__cd`) filled by `fold()` on every write, so
case/diacritic-insensitive operators are plain SQL on an indexable column, never a Python
function per row.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import overload

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    literal_column,
)
from sqlalchemy.sql.elements import ColumnElement

metadata = MetaData()


@overload
def fold(value: str, case: bool, diacritics: bool) -> str: ...
@overload
def fold(value: None, case: bool, diacritics: bool) -> None: ...
def fold(value: str | None, case: bool, diacritics: bool) -> str | None:
    """Fold a string as NSPredicate's [c]/[d] options do: casefold and/or strip combining marks."""
    if value is None:
        return None
    if diacritics:
        value = "".join(
            ch for ch in unicodedata.normalize("NFD", value) if not unicodedata.combining(ch)
        )
        value = unicodedata.normalize("NFC", value)
    if case:
        value = value.casefold()
    return value


# What OsiriX's album list calls every study: the database window's default "album", which no
# real album may be named (the UI, SelectAlbum and the workspace all use this name).
ALL_STUDIES = "Database"

FOLDS = {"c": (True, False), "d": (False, True), "cd": (True, True)}


def osirix_name(value: str) -> str:
    """A Patient's Name as OsiriX shows it: the DICOM `^` separators turned into spaces, trimmed.

    Replies carry this form and predicates on Study.name compare against it, so a name copied
    from a reply finds its study again; the stored column keeps the raw DICOM value.
    """
    return value.replace("^", " ").strip(" ")


def osirix_name_sql(column: ColumnElement, trim: bool = True) -> ColumnElement:
    """`osirix_name` in SQL (SQLite and PostgreSQL alike). The arguments are literals, not bound
    parameters, so that the expression indexes below match the expression a query uses.

    `trim=False` leaves the ends: the same answer for a substring search whose needle has no
    space at either end, at a quarter of the cost per row (SQLite's trim() is the expensive part)."""
    spaced = func.replace(column, literal_column("'^'"), literal_column("' '"))
    return func.trim(spaced) if trim else spaced


def _text(name: str, length: int | None = None, index: bool = False) -> list[Column]:
    """A text column plus its three folded shadows (the `cd` one indexed when `index`)."""
    kind = String(length) if length else Text()
    columns = [Column(name, kind, index=index)]
    for suffix in FOLDS:
        columns.append(Column(f"{name}__{suffix}", kind, index=index and suffix == "cd"))
    return columns


study = Table(
    "study",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    *_text("patient_name", index=True),
    *_text("patient_id", index=True),
    Column("patient_birth_date", DateTime),
    *_text("patient_sex"),
    *_text("patient_uid", index=True),
    Column("study_instance_uid", String(64), nullable=False, unique=True),
    *_text("study_id", index=True),
    *_text("accession_number", index=True),
    *_text("study_description", index=True),
    Column("date", DateTime, index=True),
    Column("date_added", DateTime, index=True),
    Column("date_opened", DateTime),
    *_text("modality", index=True),
    Column("number_of_images", Integer, nullable=False, default=0),
    *_text("referring_physician_name"),
    *_text("performing_physician_name"),
    *_text("institution_name"),
    *_text("comment"),
    Column("state_text", Integer, nullable=False, default=0),
)

series = Table(
    "series",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("study_pk", Integer, ForeignKey("study.pk", ondelete="CASCADE"), nullable=False, index=True),
    Column("series_instance_uid", String(64), nullable=False, unique=True),
    *_text("series_description"),
    *_text("protocol_name"),
    Column("series_number", Integer, index=True),
    *_text("modality", index=True),
    Column("date", DateTime),
    Column("date_added", DateTime),
    Column("date_opened", DateTime),
    Column("number_of_images", Integer, nullable=False, default=0),
    Column("sop_class_uid", String(64)),
    *_text("comment"),
)

image = Table(
    "image",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("series_pk", Integer, ForeignKey("series.pk", ondelete="CASCADE"), nullable=False, index=True),
    Column("sop_instance_uid", String(64), nullable=False, unique=True),
    Column("sop_class_uid", String(64)),
    Column("transfer_syntax_uid", String(64)),
    Column("instance_number", Integer),
    Column("frame_id", Integer),
    Column("number_of_frames", Integer),
    Column("columns", Integer),
    Column("rows", Integer),
    *_text("modality"),
    Column("slice_location", Float),
    Column("date", DateTime),
    Column("rel_path", Text, nullable=False),
    Column("file_size", Integer),
    *_text("comment"),
)

album = Table(
    "album",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    *_text("name"),
    Column("smart_album", Boolean, nullable=False, default=False),
    *_text("predicate_string"),
    Column("index", Integer, nullable=False, default=0),
)

album_study = Table(
    "album_study",
    metadata,
    Column("album_pk", Integer, ForeignKey("album.pk", ondelete="CASCADE"), primary_key=True),
    Column("study_pk", Integer, ForeignKey("study.pk", ondelete="CASCADE"), primary_key=True, index=True),
)

Index("ix_album_name", album.c.name, unique=True)
# `name == 'Doe Peter'` (with or without [cd]) compares the OsiriX form of the stored name.
Index("ix_study_patient_name_osirix", osirix_name_sql(study.c.patient_name))
Index("ix_study_patient_name_osirix_cd", osirix_name_sql(study.c.patient_name__cd))

# Which Viewbox created or upgraded the schema to which revision (migrations/, schema_upgrade.py):
# an older Viewbox that finds a newer schema names the version to use instead.
schema_history = Table(
    "schema_history",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("revision", String(32), nullable=False),
    Column("viewbox_version", String(32), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)

# Lengths, angles, ROIs and annotations drawn on an image (frame) of a study (viewbox.measure):
# they go with their study and image (ON DELETE CASCADE). `points` and `measured` are JSON.
measurement = Table(
    "measurement",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(64), nullable=False, unique=True),
    Column("study_pk", Integer, ForeignKey("study.pk", ondelete="CASCADE"), nullable=False, index=True),
    Column("image_pk", Integer, ForeignKey("image.pk", ondelete="CASCADE"), nullable=False, index=True),
    Column("frame", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("points", Text, nullable=False),
    Column("label", Text),
    Column("measured", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("created", DateTime, nullable=False),
)

TABLES = {"Study": study, "Series": series, "Image": image, "Album": album}


@dataclass(frozen=True)
class Attribute:
    """One OsiriX attribute: its wire name, its column and its value type.

    `kind` is one of "string", "int", "float", "bool", "date". `name_with_spaces` marks Study.name:
    replies and predicates both see it as `osirix_name` gives it, DICOM (C-FIND, exports) the
    stored value.
    """

    entity: str
    name: str
    column: str
    kind: str
    name_with_spaces: bool = False

    @property
    def foldable(self) -> bool:
        return self.kind == "string"


def _attrs(entity: str, *rows: tuple) -> dict[str, Attribute]:
    return {row[0]: Attribute(entity, *row) for row in rows}


ATTRIBUTES: dict[str, dict[str, Attribute]] = {
    "Study": _attrs(
        "Study",
        ("name", "patient_name", "string", True),
        ("patientID", "patient_id", "string"),
        ("dateOfBirth", "patient_birth_date", "date"),
        ("patientSex", "patient_sex", "string"),
        ("patientUID", "patient_uid", "string"),
        ("studyInstanceUID", "study_instance_uid", "string"),
        ("id", "study_id", "string"),
        ("accessionNumber", "accession_number", "string"),
        ("studyName", "study_description", "string"),
        ("date", "date", "date"),
        ("dateAdded", "date_added", "date"),
        ("dateOpened", "date_opened", "date"),
        ("modality", "modality", "string"),
        ("numberOfImages", "number_of_images", "int"),
        ("referringPhysician", "referring_physician_name", "string"),
        ("performingPhysician", "performing_physician_name", "string"),
        ("institutionName", "institution_name", "string"),
        ("comment", "comment", "string"),
        ("stateText", "state_text", "int"),
    ),
    "Series": _attrs(
        "Series",
        ("seriesInstanceUID", "series_instance_uid", "string"),
        ("seriesDICOMUID", "series_instance_uid", "string"),
        ("name", "series_description", "string"),
        ("seriesDescription", "protocol_name", "string"),
        ("id", "series_number", "int"),
        ("modality", "modality", "string"),
        ("date", "date", "date"),
        ("dateAdded", "date_added", "date"),
        ("dateOpened", "date_opened", "date"),
        ("numberOfImages", "number_of_images", "int"),
        ("seriesSOPClassUID", "sop_class_uid", "string"),
        ("comment", "comment", "string"),
    ),
    "Image": _attrs(
        "Image",
        ("sopInstanceUID", "sop_instance_uid", "string"),
        ("instanceNumber", "instance_number", "int"),
        ("frameID", "frame_id", "int"),
        ("numberOfFrames", "number_of_frames", "int"),
        ("width", "columns", "int"),
        ("height", "rows", "int"),
        ("modality", "modality", "string"),
        ("sliceLocation", "slice_location", "float"),
        ("date", "date", "date"),
        ("path", "rel_path", "string"),
        ("comment", "comment", "string"),
    ),
    "Album": _attrs(
        "Album",
        ("name", "name", "string"),
        ("smartAlbum", "smart_album", "bool"),
        ("predicateString", "predicate_string", "string"),
    ),
}


@dataclass(frozen=True)
class Relationship:
    """A relationship between entities: `many` is True for to-many.

    For to-many, `child_fk` is the foreign-key column on the target table pointing at this
    entity's `pk`; for to-one, `parent_fk` is the column on this table pointing at the target.
    `via` names an association table (Study.albums / Album.studies).
    """

    entity: str
    name: str
    target: str
    many: bool
    child_fk: str | None = None
    parent_fk: str | None = None
    via: str | None = None


RELATIONSHIPS: dict[str, dict[str, Relationship]] = {
    "Study": {
        "series": Relationship("Study", "series", "Series", True, child_fk="study_pk"),
        "albums": Relationship("Study", "albums", "Album", True, via="album_study"),
    },
    "Series": {
        "study": Relationship("Series", "study", "Study", False, parent_fk="study_pk"),
        "images": Relationship("Series", "images", "Image", True, child_fk="series_pk"),
    },
    "Image": {
        "series": Relationship("Image", "series", "Series", False, parent_fk="series_pk"),
    },
    "Album": {
        "studies": Relationship("Album", "studies", "Study", True, via="album_study"),
    },
}


def with_folds(table: Table, values: dict) -> dict:
    """Return `values` plus the folded shadow columns for every text column of `table` present."""
    out = dict(values)
    for key, value in values.items():
        if f"{key}__cd" in table.c:
            for suffix, (case, diacritics) in FOLDS.items():
                out[f"{key}__{suffix}"] = fold(value, case, diacritics)
    return out
