"""human review and fraud filing: reviews, fraud cases, and a version on checks"""

from __future__ import annotations

import sqlalchemy as sa

from checks.migrations.columns import binary, integer, string, text, timestamp, uuid
from checks.migrations.keys import references, serial_key, uuid_key
from checks.migrations.tables import add_columns, create_table, drop_columns, drop_tables

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    add_columns("checks", integer("version", server_default="0"))
    create_table(
        "reviews",
        serial_key(),
        uuid("check_id"),
        string("kind", 20),
        string("status", 10),
        timestamp("requested_at"),
        string("requested_by", 100),
        timestamp("due_at"),
        binary("representations_enc", nullable=True),
        string("previous_decision", 10, nullable=True),
        string("decision", 10, nullable=True),
        string("reviewer", 100, nullable=True),
        binary("note_enc", nullable=True),
        timestamp("decided_at", nullable=True),
        references("check_id", "checks"),
        indexed=["check_id", "status"],
    )
    create_table(
        "fraud_cases",
        uuid_key(),
        uuid("check_id"),
        uuid("subject_id"),
        string("case_type", 40),
        binary("evidence_enc"),
        string("client_ref", 64),
        string("status", 12),
        string("proposed_by", 100),
        timestamp("proposed_at"),
        timestamp("due_at"),
        string("confirmed_by", 100, nullable=True),
        timestamp("confirmed_at", nullable=True),
        string("withdrawn_by", 100, nullable=True),
        timestamp("withdrawn_at", nullable=True),
        string("filing_status", 12, nullable=True),
        integer("filing_attempts", server_default="0"),
        text("filing_error", nullable=True),
        string("cifas_reference", 64, nullable=True),
        timestamp("filed_at", nullable=True),
        string("filing_owner", 64, nullable=True),
        timestamp("filing_lease_until", nullable=True),
        timestamp("filing_progress_at", nullable=True),
        references("check_id", "checks"),
        sa.UniqueConstraint("client_ref"),
        indexed=["check_id", "subject_id", "status", "filing_status"],
    )


def downgrade() -> None:
    drop_tables("fraud_cases", "reviews")
    drop_columns("checks", "version")
