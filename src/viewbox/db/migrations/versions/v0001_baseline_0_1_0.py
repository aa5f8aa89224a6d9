"""Baseline: the schema of Viewbox 0.1.0 exactly as it shipped (frozen here, never edited).

A 0.1.0 database has these tables and no `alembic_version`; opening it stamps this revision and
upgrades from here. Later migrations change the schema; this file keeps the starting point.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(name: str, index: bool = False) -> list[sa.Column]:
    """0.1.0's text column with its three folded shadows (`__cd` indexed with the column)."""
    return [sa.Column(name, sa.Text(), index=index),
            *(sa.Column(f"{name}__{suffix}", sa.Text(), index=index and suffix == "cd")
              for suffix in ("c", "d", "cd"))]


def upgrade() -> None:
    op.create_table(
        "study",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        *_text("patient_name", index=True),
        *_text("patient_id", index=True),
        sa.Column("patient_birth_date", sa.DateTime()),
        *_text("patient_sex"),
        *_text("patient_uid", index=True),
        sa.Column("study_instance_uid", sa.String(64), nullable=False, unique=True),
        *_text("study_id", index=True),
        *_text("accession_number", index=True),
        *_text("study_description", index=True),
        sa.Column("date", sa.DateTime(), index=True),
        sa.Column("date_added", sa.DateTime(), index=True),
        sa.Column("date_opened", sa.DateTime()),
        *_text("modality", index=True),
        sa.Column("number_of_images", sa.Integer(), nullable=False),
        *_text("referring_physician_name"),
        *_text("performing_physician_name"),
        *_text("institution_name"),
        *_text("comment"),
        sa.Column("state_text", sa.Integer(), nullable=False),
    )
    op.create_table(
        "series",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("study_pk", sa.Integer(), sa.ForeignKey("study.pk", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("series_instance_uid", sa.String(64), nullable=False, unique=True),
        *_text("series_description"),
        *_text("protocol_name"),
        sa.Column("series_number", sa.Integer(), index=True),
        *_text("modality", index=True),
        sa.Column("date", sa.DateTime()),
        sa.Column("date_added", sa.DateTime()),
        sa.Column("date_opened", sa.DateTime()),
        sa.Column("number_of_images", sa.Integer(), nullable=False),
        sa.Column("sop_class_uid", sa.String(64)),
        *_text("comment"),
    )
    op.create_table(
        "image",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("series_pk", sa.Integer(), sa.ForeignKey("series.pk", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("sop_instance_uid", sa.String(64), nullable=False, unique=True),
        sa.Column("sop_class_uid", sa.String(64)),
        sa.Column("transfer_syntax_uid", sa.String(64)),
        sa.Column("instance_number", sa.Integer()),
        sa.Column("frame_id", sa.Integer()),
        sa.Column("number_of_frames", sa.Integer()),
        sa.Column("columns", sa.Integer()),
        sa.Column("rows", sa.Integer()),
        *_text("modality"),
        sa.Column("slice_location", sa.Float()),
        sa.Column("date", sa.DateTime()),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("file_size", sa.Integer()),
        *_text("comment"),
    )
    op.create_table(
        "album",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        *_text("name"),
        sa.Column("smart_album", sa.Boolean(), nullable=False),
        *_text("predicate_string"),
        sa.Column("index", sa.Integer(), nullable=False),
    )
    op.create_index("ix_album_name", "album", ["name"], unique=True)
    op.create_table(
        "album_study",
        sa.Column("album_pk", sa.Integer(), sa.ForeignKey("album.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("study_pk", sa.Integer(), sa.ForeignKey("study.pk", ondelete="CASCADE"), primary_key=True,
                  index=True),
    )


def downgrade() -> None:
    for table in ("album_study", "album", "image", "series", "study"):
        op.drop_table(table)
