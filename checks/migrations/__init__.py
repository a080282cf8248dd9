"""Alembic migrations: ``versions/`` holds the revisions, written with the helpers beside this.

The helpers (``columns``, ``keys``, ``tables``) are FROZEN. A revision must build today exactly
what it built when it first ran, or a database created from scratch would differ from one
upgraded over the years; changing a helper changes every old revision that calls it. So never
change one: add a new helper instead. ``tests/test_migrations.py`` pins what each revision
builds, on SQLite and on PostgreSQL.
"""
