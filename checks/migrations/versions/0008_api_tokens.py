"""api tokens: named, role-bearing secrets for the HTTP API and console (stored hashed)"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from checks.migrations.columns import string, timestamp
from checks.migrations.keys import uuid_key
from checks.migrations.tables import create_table

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    create_table(
        "api_tokens",
        uuid_key(),
        string("name", 64),
        string("role", 20),
        string("token_hash", 64),
        timestamp("created_at"),
        timestamp("revoked_at", nullable=True),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
