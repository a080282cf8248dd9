"""Breaking an association with `checkctl` on Redis: a separate `checkctl worker` sends the
notices of disassociation and records each CRA's answer in PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import request_for
from tests.integration.conftest import WorkerFactory, checkctl, terminal_view, wait_for
from workers.associations import association_service
from workers.runtime import Runtime

pytestmark = pytest.mark.integration


def test_a_separate_worker_sends_each_cra_its_notice_of_disassociation(
    pg_url: str, redis_runtime: Runtime, worker_process: WorkerFactory, tmp_path: Path
) -> None:
    worker = worker_process(pg_url)
    service = association_service(redis_runtime)
    # Given Frank and Grace linked by their joint new order
    sub = redis_runtime.service.submit(request_for("frank"))
    view = wait_for(
        "the joint check to end",
        terminal_view(redis_runtime, sub.check_id),
        timeout=60,
        diagnostics=worker.diagnostics,
    )
    (link,) = service.associations_of(view["subject_id"])
    # When an operator breaks it with checkctl (it only queues: the worker sends)
    broke = checkctl(
        ["associations", "break", str(link["id"]), "--requested-by", "operator", "--note", "x",
         "--json"],
        pg_url,
        cwd=tmp_path,
    ).json()  # fmt: skip
    assert broke["status"] == "breaking"
    assert sorted(n["agency"] for n in broke["notices"]) == ["callcredit", "equifax", "experian"]

    def answered() -> dict[str, Any] | None:
        now = service.get(link["id"])
        done = all(n["status"] in ("accepted", "refused") for n in now["notices"])
        return now if done else None

    after = wait_for("every CRA to answer", answered, timeout=60, diagnostics=worker.diagnostics)
    # Then each CRA answered its one notice; Callcredit refused (joint account open)
    assert {n["agency"]: (n["status"], n["attempts"]) for n in after["notices"]} == {
        "callcredit": ("refused", 1),
        "equifax": ("accepted", 1),
        "experian": ("accepted", 1),
    }
    assert after["status"] == "breaking"
