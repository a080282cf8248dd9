"""Operations on whole tables for the revisions (FROZEN: see ``checks.migrations``)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from checks.migrations.columns import Column


def create_table(name: str, *parts: Column | sa.Constraint, indexed: Sequence[str] = ()) -> None:
    """Create a table from its columns and constraints, then index each ``indexed`` column.

    Each index is a plain one named ``ix_<table>_<column>``, the name SQLAlchemy gives an
    ``index=True`` column in the models.
    """
    op.create_table(name, *parts)
    for column in indexed:
        op.create_index(f"ix_{name}_{column}", name, [column])


def add_columns(table: str, *columns: Column) -> None:
    """Add columns to a table, in one batch (SQLite cannot alter every part of a table)."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *columns: str) -> None:
    """Drop columns from a table, in one batch (SQLite rebuilds the table once for all)."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.drop_column(column)


def drop_tables(*tables: str) -> None:
    """Drop tables in the order given; their indexes go with them."""
    for table in tables:
        op.drop_table(table)
