"""Primary and foreign keys the revisions are written with (FROZEN: see ``checks.migrations``)."""

from __future__ import annotations

import sqlalchemy as sa

from checks.migrations.columns import UUID_LENGTH, Column


def serial_key() -> Column:
    """The primary key ``id``: an integer the database numbers (SERIAL in PostgreSQL)."""
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False, primary_key=True)


def uuid_key() -> Column:
    """The primary key ``id``: a UUID the application chooses."""
    return sa.Column("id", sa.String(length=UUID_LENGTH), nullable=False, primary_key=True)


def references(column: str, table: str) -> sa.ForeignKeyConstraint:
    """A foreign key from ``column`` to ``table.id``.

    A table constraint rather than a column's ``ForeignKey``: constraints are created in the
    order written, and SQLite keeps the ``CREATE TABLE`` text in that order.
    """
    return sa.ForeignKeyConstraint([column], [f"{table}.id"])
