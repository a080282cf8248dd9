"""subject flags: a fraud or money-laundering flag belongs to one person"""

from __future__ import annotations

from alembic import op

from checks.migrations.columns import string, timestamp, uuid
from checks.migrations.keys import references, serial_key
from checks.migrations.tables import create_table

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    _create_subject_flags()
    _flag_the_applicants_of_flagged_checks()


def _create_subject_flags() -> None:
    create_table(
        "subject_flags",
        serial_key(),
        uuid("subject_id"),
        uuid("check_id", nullable=True),
        string("reason", 40),
        string("source", 20),
        timestamp("flagged_at"),
        references("subject_id", "subjects"),
        indexed=["subject_id", "check_id"],
    )


def _flag_the_applicants_of_flagged_checks() -> None:
    """Flags recorded on checks before this revision belonged to the check's applicant."""
    op.execute(
        "INSERT INTO subject_flags (subject_id, check_id, reason, source, flagged_at) "
        "SELECT subject_id, id, COALESCE(flag_reason, 'fraud_risk'), 'automated', "
        "COALESCE(flagged_at, created_at) FROM checks WHERE flagged"
    )


def downgrade() -> None:
    op.drop_table("subject_flags")
