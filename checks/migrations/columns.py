"""Kinds of column the revisions are written with (FROZEN: see ``checks.migrations``).

Every column is NOT NULL unless it says ``nullable=True``, as in the ORM models.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

#: A UUID in its 36-character text form: the key of subjects, checks and fraud cases.
UUID_LENGTH = 36

Column = sa.Column[Any]


def uuid(name: str, *, nullable: bool = False) -> Column:
    """A UUID: another row's key (a foreign key only where ``keys.references()`` adds one)."""
    return sa.Column(name, sa.String(length=UUID_LENGTH), nullable=nullable)


def string(
    name: str, length: int, *, nullable: bool = False, server_default: str | None = None
) -> Column:
    """A string of at most ``length`` characters (a code, a name, a hash)."""
    return sa.Column(
        name, sa.String(length=length), nullable=nullable, server_default=server_default
    )


def text(name: str, *, nullable: bool = False) -> Column:
    """Text of any length."""
    return sa.Column(name, sa.Text(), nullable=nullable)


def binary(name: str, *, nullable: bool = False) -> Column:
    """Bytes: in this schema, always encrypted personal data."""
    return sa.Column(name, sa.LargeBinary(), nullable=nullable)


def integer(name: str, *, nullable: bool = False, server_default: str | None = None) -> Column:
    """An integer (a count, a run number, a version)."""
    return sa.Column(name, sa.Integer(), nullable=nullable, server_default=server_default)


def boolean(name: str) -> Column:
    """A flag, never NULL."""
    return sa.Column(name, sa.Boolean(), nullable=False)


def timestamp(name: str, *, nullable: bool = False) -> Column:
    """A point in time (naive, UTC)."""
    return sa.Column(name, sa.DateTime(), nullable=nullable)


def json(name: str) -> Column:
    """A JSON document, NULL when there is none."""
    return sa.Column(name, sa.JSON(), nullable=True)


def agency_request(status_length: int) -> list[Column]:
    """How a request sent to an agency is tracked (a search step, a notice of disassociation).

    Our reference for it, the same on every resend so the agency can recognise a repeat (the
    table makes it unique), then its status and the number of attempts made so far.
    """
    return [string("client_ref", 64), string("status", status_length), integer("attempts")]
