"""Expression indexes for Study.name in OsiriX's form (`^` as spaces, trimmed), raw and folded.

Predicates on Study.name compare that form (schema.osirix_name_sql); without these indexes such a
query reads every study.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _osirix_form(column: str) -> sa.TextClause:
    return sa.text(f"trim(replace({column}, '^', ' '))")


def upgrade() -> None:
    op.create_index("ix_study_patient_name_osirix", "study", [_osirix_form("patient_name")])
    op.create_index("ix_study_patient_name_osirix_cd", "study", [_osirix_form("patient_name__cd")])


def downgrade() -> None:
    op.drop_index("ix_study_patient_name_osirix_cd", "study")
    op.drop_index("ix_study_patient_name_osirix", "study")
