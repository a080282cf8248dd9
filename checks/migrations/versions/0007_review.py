"""human review and fraud filing: reviews, fraud cases, and a version on checks

Revision ID: 0007
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("representations_enc", sa.LargeBinary(), nullable=True),
        sa.Column("previous_decision", sa.String(length=10), nullable=True),
        sa.Column("decision", sa.String(length=10), nullable=True),
        sa.Column("reviewer", sa.String(length=100), nullable=True),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reviews_check_id", "reviews", ["check_id"])
    op.create_index("ix_reviews_status", "reviews", ["status"])
    op.create_table(
        "fraud_cases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("case_type", sa.String(length=40), nullable=False),
        sa.Column("evidence_enc", sa.LargeBinary(), nullable=False),
        sa.Column("client_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("filing_status", sa.String(length=12), nullable=True),
        sa.Column("filing_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("filing_error", sa.Text(), nullable=True),
        sa.Column("cifas_reference", sa.String(length=64), nullable=True),
        sa.Column("filed_at", sa.DateTime(), nullable=True),
        sa.Column("filing_owner", sa.String(length=64), nullable=True),
        sa.Column("filing_lease_until", sa.DateTime(), nullable=True),
        sa.Column("filing_progress_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_ref"),
    )
    op.create_index("ix_fraud_cases_check_id", "fraud_cases", ["check_id"])
    op.create_index("ix_fraud_cases_subject_id", "fraud_cases", ["subject_id"])
    op.create_index("ix_fraud_cases_status", "fraud_cases", ["status"])
    op.create_index("ix_fraud_cases_filing_status", "fraud_cases", ["filing_status"])


def downgrade() -> None:
    op.drop_table("fraud_cases")
    op.drop_table("reviews")
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_column("version")
