"""outbox: a check's run message is recorded with the check and marked when it has been sent"""

from __future__ import annotations

from alembic import op

from checks.migrations.columns import integer, string, timestamp, uuid
from checks.migrations.keys import serial_key
from checks.migrations.tables import create_table

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_table(
        "outbox_messages",
        serial_key(),
        uuid("check_id"),
        string("kind", 20),
        timestamp("created_at"),
        timestamp("sent_at", nullable=True),
        integer("attempts"),
        string("last_error", 200, nullable=True),
        indexed=["check_id", "sent_at"],
    )


def downgrade() -> None:
    op.drop_table("outbox_messages")
