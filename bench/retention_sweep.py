"""Benchmark: the retention sweep over PostgreSQL with 1,000,000 checks, 1,000 then 10,000 expired.

Usage::

    .venv/bin/python bench/retention_sweep.py [--checks 1000000] [--pg URL] [--keep]

Creates a fresh database on the server (dropped afterwards unless ``--keep``), generates the
rows in PostgreSQL itself (``generate_series``: one subject, one check and one step per check,
with one small encrypted blob shared by all as the personal data), then times two sweeps over
the same table: one on the day 1,000 checks have expired, one on the day 10,000 more have. The
sweep's cost should follow the expired rows, not the table (target: 10,000 within 10 s).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from checks.config import Settings
from checks.crypto import Cipher
from checks.retention_store import RetentionStore
from checks.store import Store

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def generate(url: str, n: int, first: int, second: int, cipher: Cipher, today: datetime) -> None:
    """``n`` decided checks: ``first`` expired 30 days ago, ``second`` yesterday, the rest later."""
    pii = cipher.encrypt(json.dumps({"forename": "Bench", "surname": "Person"}))
    result = cipher.encrypt(json.dumps({"result": {"kind": "credit", "agency_ref": "R"}}))
    params = {
        "n": n,
        "first": first,
        "second": first + second,
        "pii": pii,
        "result": result,
        "now": today.replace(tzinfo=None),
    }
    engine = create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("SET synchronous_commit = off")
        c.execute(
            text(
                "INSERT INTO subjects (id, identity_hash, pii, legal_hold, created_at) "
                "SELECT md5('s' || g)::uuid::text, md5('h' || g) || md5('i' || g), :pii, false, "
                ":now FROM generate_series(1, :n) g"
            ),
            params,
        )
        c.execute(
            text(
                "INSERT INTO subject_identities (subject_id, identity_hash, created_at) "
                "SELECT id, identity_hash, created_at FROM subjects"
            )
        )
        # Outcome dates put exactly `first` checks past retention 30 days ago, `second` more
        # yesterday, and the rest within their year.
        c.execute(
            text(
                "INSERT INTO checks (id, idempotency_key, request_digest, request_enc, purpose, "
                "channel, product_code, credit_amount, requested_by, subject_id, status, "
                "decision, automated, flagged, legal_hold, retention_until, created_at, "
                "updated_at, progress_at, finished_at, runs) "
                "SELECT md5('c' || g)::uuid::text, 'K' || g, md5('d' || g) || md5('e' || g), "
                ":pii, 'new_order', 'store', 'MOBILE-24M', 720, 'bench', "
                "md5('s' || g)::uuid::text, 'decided', 'accept', true, false, false, "
                "f + interval '365 days', f, f, f, f, 1 FROM ("
                "  SELECT g, CASE WHEN g <= :first THEN :now - interval '395 days' "
                "              WHEN g <= :second THEN :now - interval '366 days' "
                "              ELSE :now - (g % 300) * interval '1 day' END AS f "
                "  FROM generate_series(1, :n) g) t"
            ),
            params,
        )
        c.execute(
            text(
                "INSERT INTO steps (check_id, slot, kind, agency, role, search_type, client_ref, "
                "status, attempts, result_enc, started_at, finished_at) "
                "SELECT id, 'credit', 'credit', 'experian', 'applicant', 'hard', "
                "md5('r' || id), 'completed', 1, :result, finished_at, finished_at FROM checks"
            ),
            params,
        )
        c.exec_driver_sql("ANALYZE")
    engine.dispose()


def main() -> None:
    """Generate, sweep twice, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=1_000)
    parser.add_argument("--second", type=int, default=10_000)
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="a PostgreSQL server's admin URL")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = f"retention_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    cipher = Cipher([Cipher.generate_key()])
    figures: dict[str, object] = {"checks": args.checks}
    try:
        store = Store(Settings(database_url=url), cipher)
        store.migrate()
        today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        generate(url, args.checks, args.first, args.second, cipher, today)
        figures["generate_s"] = round(time.perf_counter() - started, 1)
        sweeper = RetentionStore(store)
        for label, as_of in (
            (f"{args.first}_expired", today.date() - timedelta(days=29)),
            (f"{args.second}_expired", today.date()),
        ):
            started = time.perf_counter()
            report = sweeper.sweep(as_of)
            figures[label] = {
                "seconds": round(time.perf_counter() - started, 2),
                "purged_checks": len(report.purged_checks),
                "purged_subjects": len(report.purged_subjects),
                "batches": report.batches,
            }
            print(json.dumps({label: figures[label]}), flush=True)
        store.dispose()
    finally:
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
