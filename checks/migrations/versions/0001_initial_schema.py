"""initial schema: subjects, checks with their steps, reasons and footprints, associations, audit"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from checks.migrations.columns import (
    agency_request,
    binary,
    boolean,
    integer,
    json,
    string,
    text,
    timestamp,
    uuid,
)
from checks.migrations.keys import references, serial_key, uuid_key
from checks.migrations.tables import create_table, drop_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "audit_events",
        serial_key(),
        timestamp("at"),
        string("actor", 100),
        string("action", 40),
        uuid("check_id", nullable=True),
        json("detail"),
    )
    op.create_index("ix_audit_check_at", "audit_events", ["check_id", "at"])

    create_table(
        "subjects",
        uuid_key(),
        string("identity_hash", 64),
        binary("pii", nullable=True),
        boolean("legal_hold"),
        timestamp("created_at"),
        timestamp("erased_at", nullable=True),
        sa.UniqueConstraint("identity_hash"),
    )
    create_table(
        "associations",
        serial_key(),
        uuid("subject_a"),
        uuid("subject_b"),
        string("source", 20),
        uuid("source_check_id", nullable=True),
        timestamp("linked_at"),
        timestamp("disassociated_at", nullable=True),
        references("subject_a", "subjects"),
        references("subject_b", "subjects"),
        sa.UniqueConstraint("subject_a", "subject_b", "linked_at"),
        indexed=["subject_a", "subject_b"],
    )

    create_table(
        "checks",
        uuid_key(),
        string("idempotency_key", 128),
        string("request_digest", 64),
        binary("request_enc", nullable=True),
        string("purpose", 20),
        string("channel", 20),
        string("product_code", 40),
        sa.Column("credit_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        string("requested_by", 100),
        json("notify"),
        uuid("subject_id"),
        uuid("joint_subject_id", nullable=True),
        string("status", 10),
        string("decision", 10, nullable=True),
        boolean("automated"),
        boolean("flagged"),
        string("flag_reason", 40, nullable=True),
        timestamp("flagged_at", nullable=True),
        timestamp("retention_until", nullable=True),
        boolean("legal_hold"),
        text("failure_reason", nullable=True),
        timestamp("created_at"),
        timestamp("updated_at"),
        timestamp("progress_at"),
        timestamp("finished_at", nullable=True),
        string("lease_owner", 64, nullable=True),
        timestamp("lease_until", nullable=True),
        integer("runs"),
        references("joint_subject_id", "subjects"),
        references("subject_id", "subjects"),
        sa.UniqueConstraint("idempotency_key"),
        indexed=[
            "created_at",
            "joint_subject_id",
            "progress_at",
            "retention_until",
            "status",
            "subject_id",
        ],
    )

    create_table(
        "reasons",
        serial_key(),
        uuid("check_id"),
        integer("position"),
        string("code", 40),
        text("text"),
        string("agency", 40, nullable=True),
        references("check_id", "checks"),
        indexed=["check_id"],
    )

    create_table(
        "steps",
        serial_key(),
        uuid("check_id"),
        string("slot", 40),
        string("kind", 10),
        string("agency", 40),
        string("role", 10),
        string("search_type", 10),
        *agency_request(status_length=12),  # client_ref, status, attempts
        string("error_code", 40, nullable=True),
        text("error", nullable=True),
        binary("result_enc", nullable=True),
        timestamp("started_at", nullable=True),
        timestamp("finished_at", nullable=True),
        references("check_id", "checks"),
        sa.UniqueConstraint("client_ref"),
        indexed=["check_id"],
    )

    create_table(
        "footprints",
        serial_key(),
        integer("step_id"),
        uuid("check_id"),
        uuid("subject_id"),
        string("agency", 40),
        string("search_type", 10),
        string("purpose_code", 10),
        timestamp("searched_at"),
        string("client_ref", 64),
        references("check_id", "checks"),
        references("step_id", "steps"),
        sa.UniqueConstraint("client_ref"),
        sa.UniqueConstraint("step_id"),
        indexed=["check_id", "subject_id"],
    )


def downgrade() -> None:
    drop_tables(
        "footprints", "steps", "reasons", "checks", "associations", "subjects", "audit_events"
    )
