"""ledger: steps remember they may have been sent; footprints carry a state

Revision ID: 0003
Revises: 0002

``steps.sent_in_run`` is set (to the check's run number) before a step's request can leave, and
never cleared while the step may have reached its agency; a step so marked never falls back to
another agency. ``footprints.state`` is ``unknown`` until an answer confirms the search.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("sent_in_run", sa.Integer(), nullable=True))
    with op.batch_alter_table("footprints") as batch:
        # Rows written before this revision were all written with an answer: confirmed.
        batch.add_column(
            sa.Column("state", sa.String(length=10), nullable=False, server_default="confirmed")
        )
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(), nullable=True))
    # Every step with a footprint was sent; mark it so a rerun never falls back from it.
    op.execute("UPDATE steps SET sent_in_run = 1 WHERE id IN (SELECT step_id FROM footprints)")
    op.execute("UPDATE footprints SET confirmed_at = searched_at")


def downgrade() -> None:
    with op.batch_alter_table("footprints") as batch:
        batch.drop_column("confirmed_at")
        batch.drop_column("state")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("sent_in_run")
