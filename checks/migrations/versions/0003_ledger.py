"""ledger: steps remember they may have been sent; footprints carry a state

``steps.sent_in_run`` is set (to the check's run number) before a step's request can leave, and
never cleared while the step may have reached its agency; a step so marked never falls back to
another agency. ``footprints.state`` is ``unknown`` until an answer confirms the search.
"""

from __future__ import annotations

from alembic import op

from checks.migrations.columns import integer, string, timestamp
from checks.migrations.tables import add_columns, drop_columns

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    add_columns("steps", integer("sent_in_run", nullable=True))
    add_columns(
        "footprints",
        # Rows written before this revision were all written with an answer: confirmed.
        string("state", 10, server_default="confirmed"),
        timestamp("confirmed_at", nullable=True),
    )
    # Every step with a footprint was sent; mark it so a rerun never falls back from it.
    op.execute("UPDATE steps SET sent_in_run = 1 WHERE id IN (SELECT step_id FROM footprints)")
    op.execute("UPDATE footprints SET confirmed_at = searched_at")


def downgrade() -> None:
    drop_columns("footprints", "confirmed_at", "state")
    drop_columns("steps", "sent_in_run")
