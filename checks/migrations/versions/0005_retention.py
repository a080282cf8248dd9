"""retention: identity hashes per postcode, legal holds, purge marks, audit hash chain, schedules

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("identity_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identity_hash"),
    )
    op.create_index("ix_subject_identities_subject_id", "subject_identities", ["subject_id"])
    # Existing subjects have one hash (name, date of birth, current postcode): keep it findable.
    # Their other postcodes' hashes are added by their next check (the keys are not known here).
    op.execute(
        "INSERT INTO subject_identities (subject_id, identity_hash, created_at) "
        "SELECT id, identity_hash, created_at FROM subjects"
    )

    with op.batch_alter_table("subjects") as batch_op:
        batch_op.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("held_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("checks") as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
    not_purged = sa.text("purged_at IS NULL")
    op.create_index(
        "ix_checks_retention_due",
        "checks",
        ["retention_until", "id"],
        postgresql_where=not_purged,
        sqlite_where=not_purged,
    )

    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    op.create_index("uq_audit_events_seq", "audit_events", ["seq"], unique=True)
    unsealed = sa.text("seq IS NULL")
    op.create_index(
        "ix_audit_unsealed",
        "audit_events",
        ["id"],
        postgresql_where=unsealed,
        sqlite_where=unsealed,
    )

    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
    op.drop_index("ix_audit_unsealed", table_name="audit_events")
    op.drop_index("uq_audit_events_seq", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("digest")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
    op.drop_index("ix_checks_retention_due", table_name="checks")
    with op.batch_alter_table("checks") as batch_op:
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("subjects") as batch_op:
        batch_op.drop_column("purged_at")
        batch_op.drop_column("held_at")
        batch_op.drop_column("hold_reason")
    op.drop_index("ix_subject_identities_subject_id", table_name="subject_identities")
    op.drop_table("subject_identities")
