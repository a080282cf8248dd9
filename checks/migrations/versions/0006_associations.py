"""financial associations: status, evidence, uses by decisions, notices of disassociation"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from checks.migrations.columns import agency_request, binary, integer, string, text, timestamp, uuid
from checks.migrations.keys import references, serial_key
from checks.migrations.tables import add_columns, create_table, drop_columns, drop_tables

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    add_columns(
        "associations",
        string("status", 10, server_default="active"),
        string("break_requested_by", 10, nullable=True),
        binary("break_note_enc", nullable=True),
        timestamp("broken_at", nullable=True),
    )
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
    create_table(
        "association_evidence",
        serial_key(),
        integer("association_id"),
        string("source", 20),
        uuid("check_id", nullable=True),
        string("actor", 100),
        binary("note_enc", nullable=True),
        timestamp("recorded_at"),
        references("association_id", "associations"),
        indexed=["association_id", "check_id"],
    )
    # Associations recorded before this revision keep their one source as evidence.
    op.execute(
        "INSERT INTO association_evidence (association_id, source, check_id, actor, recorded_at) "
        "SELECT id, source, source_check_id, 'worker', linked_at FROM associations"
    )
    create_table(
        "association_uses",
        serial_key(),
        uuid("check_id"),
        integer("association_id"),
        timestamp("used_at"),
        references("association_id", "associations"),
        sa.UniqueConstraint("check_id", "association_id"),
        indexed=["check_id", "association_id"],
    )
    create_table(
        "disassociation_notices",
        serial_key(),
        integer("association_id"),
        string("agency", 40),
        *agency_request(status_length=10),  # client_ref, status, attempts
        string("agency_ref", 64, nullable=True),
        text("detail", nullable=True),
        timestamp("gave_up_at", nullable=True),
        timestamp("created_at"),
        timestamp("updated_at"),
        references("association_id", "associations"),
        sa.UniqueConstraint("client_ref"),
        indexed=["association_id"],
    )


def downgrade() -> None:
    drop_tables("disassociation_notices", "association_uses", "association_evidence")
    op.drop_index("ux_associations_active_pair", table_name="associations")
    drop_columns("associations", "broken_at", "break_note_enc", "break_requested_by", "status")
