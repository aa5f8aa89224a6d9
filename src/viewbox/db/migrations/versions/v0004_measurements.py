"""measurement: lengths, angles, ROIs and annotations drawn on an image (frame) of a study.

Rows go with their study and image (ON DELETE CASCADE): deleting a study deletes its measurements.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurement",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(64), nullable=False, unique=True),
        sa.Column("study_pk", sa.Integer(), sa.ForeignKey("study.pk", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("image_pk", sa.Integer(), sa.ForeignKey("image.pk", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("points", sa.Text(), nullable=False),
        sa.Column("label", sa.Text()),
        sa.Column("measured", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("measurement")
