"""financial associations: status, evidence, uses by decisions, notices of disassociation

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("associations") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=10), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("break_requested_by", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("break_note_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("broken_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE associations SET status = 'broken' WHERE disassociated_at IS NOT NULL")
    # One active association per pair, whatever races between workers linking it.
    op.create_index(
        "ux_associations_active_pair",
        "associations",
        ["subject_a", "subject_b"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "association_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_association_evidence_association_id", "association_evidence", ["association_id"]
    )
    op.create_index("ix_association_evidence_check_id", "association_evidence", ["check_id"])
    # Associations recorded before this revision keep their one source as evidence.
    op.execute(
        "INSERT INTO association_evidence (association_id, source, check_id, actor, recorded_at) "
        "SELECT id, source, source_check_id, 'worker', linked_at FROM associations"
    )
    op.create_table(
        "association_uses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("check_id", "association_id"),
    )
    op.create_index("ix_association_uses_check_id", "association_uses", ["check_id"])
    op.create_index("ix_association_uses_association_id", "association_uses", ["association_id"])
    op.create_table(
        "disassociation_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("association_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("client_ref", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("agency_ref", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_ref"),
    )
    op.create_index(
        "ix_disassociation_notices_association_id", "disassociation_notices", ["association_id"]
    )


def downgrade() -> None:
    op.drop_table("disassociation_notices")
    op.drop_table("association_uses")
    op.drop_table("association_evidence")
    op.drop_index("ux_associations_active_pair", table_name="associations")
    with op.batch_alter_table("associations") as batch:
        batch.drop_column("broken_at")
        batch.drop_column("break_note_enc")
        batch.drop_column("break_requested_by")
        batch.drop_column("status")
