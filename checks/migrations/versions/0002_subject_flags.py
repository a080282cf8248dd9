"""subject flags: a fraud or money-laundering flag belongs to one person

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("flagged_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subject_flags_subject_id", "subject_flags", ["subject_id"])
    op.create_index("ix_subject_flags_check_id", "subject_flags", ["check_id"])
    # Flags recorded on checks before this revision belonged to the check's applicant.
    op.execute(
        "INSERT INTO subject_flags (subject_id, check_id, reason, source, flagged_at) "
        "SELECT subject_id, id, COALESCE(flag_reason, 'fraud_risk'), 'automated', "
        "COALESCE(flagged_at, created_at) FROM checks WHERE flagged"
    )


def downgrade() -> None:
    op.drop_index("ix_subject_flags_check_id", table_name="subject_flags")
    op.drop_index("ix_subject_flags_subject_id", table_name="subject_flags")
    op.drop_table("subject_flags")
