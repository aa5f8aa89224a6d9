"""schema_history: which Viewbox created or upgraded the schema, and when.

So that an older Viewbox that finds a newer schema can say which version to use instead.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schema_history",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("revision", sa.String(32), nullable=False),
        sa.Column("viewbox_version", sa.String(32), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schema_history")
