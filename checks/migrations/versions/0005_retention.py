"""retention: identity hashes per postcode, legal holds, purge marks, audit hash chain, schedules"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from checks.migrations.columns import integer, string, text, timestamp, uuid
from checks.migrations.keys import references, serial_key
from checks.migrations.tables import add_columns, create_table, drop_columns

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    _identity_hashes_per_postcode()
    _legal_holds_and_purge_marks()
    _audit_hash_chain()
    _schedules()


def _identity_hashes_per_postcode() -> None:
    create_table(
        "subject_identities",
        serial_key(),
        uuid("subject_id"),
        string("identity_hash", 64),
        timestamp("created_at"),
        references("subject_id", "subjects"),
        sa.UniqueConstraint("identity_hash"),
        indexed=["subject_id"],
    )
    # Existing subjects have one hash (name, date of birth, current postcode): keep it findable.
    # Their other postcodes' hashes are added by their next check (the keys are not known here).
    op.execute(
        "INSERT INTO subject_identities (subject_id, identity_hash, created_at) "
        "SELECT id, identity_hash, created_at FROM subjects"
    )


def _legal_holds_and_purge_marks() -> None:
    add_columns(
        "subjects",
        text("hold_reason", nullable=True),
        timestamp("held_at", nullable=True),
        timestamp("purged_at", nullable=True),
    )
    add_columns("checks", timestamp("purged_at", nullable=True))
    not_purged = sa.text("purged_at IS NULL")
    op.create_index(
        "ix_checks_retention_due",
        "checks",
        ["retention_until", "id"],
        postgresql_where=not_purged,
        sqlite_where=not_purged,
    )


def _audit_hash_chain() -> None:
    add_columns(
        "audit_events",
        integer("seq", nullable=True),
        string("prev_hash", 64, nullable=True),
        string("hash", 64, nullable=True),
        string("digest", 64, nullable=True),
    )
    op.create_index("uq_audit_events_seq", "audit_events", ["seq"], unique=True)
    unsealed = sa.text("seq IS NULL")
    op.create_index(
        "ix_audit_unsealed",
        "audit_events",
        ["id"],
        postgresql_where=unsealed,
        sqlite_where=unsealed,
    )


def _schedules() -> None:
    create_table(
        "scheduled_jobs",
        string("name", 40),
        string("period", 20),
        timestamp("started_at"),
        timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
    op.drop_index("ix_audit_unsealed", table_name="audit_events")
    op.drop_index("uq_audit_events_seq", table_name="audit_events")
    drop_columns("audit_events", "digest", "hash", "prev_hash", "seq")
    op.drop_index("ix_checks_retention_due", table_name="checks")
    drop_columns("checks", "purged_at")
    drop_columns("subjects", "purged_at", "held_at", "hold_reason")
    op.drop_table("subject_identities")
