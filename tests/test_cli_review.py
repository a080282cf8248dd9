"""``checkctl review`` and ``checkctl fraud`` as a user runs them: JSON shapes and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import SHOW_KEYS, request_for
from workers.cli import app
from workers.runtime import set_runtime


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run checkctl in-process on a fresh SQLite file in tmp_path."""
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{tmp_path / 'checks.db'}")
    monkeypatch.delenv("CHECKS_SANDBOX_FAULTS", raising=False)
    set_runtime(None)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield invoke
    set_runtime(None)


def _decided(cli: Any, tmp_path: Path, persona: str) -> str:
    path = tmp_path / f"{persona}.json"
    path.write_text(json.dumps(request_for(persona)))
    result = cli("submit", str(path), "--wait", "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["id"])


def test_a_contested_decline_is_listed_decided_and_shown_with_its_review(
    cli: Any, tmp_path: Path
) -> None:
    check_id = _decided(cli, tmp_path, "carol")
    shown = json.loads(cli("show", check_id, "--json").stdout)
    assert shown["automated"] is True and shown["review"] is None
    assert "contest" in shown["how_to_contest"]

    opened = cli("review", "request", check_id, "--representations", "I paid it", "--json")
    assert opened.exit_code == 0, opened.output
    queue = json.loads(cli("review", "list", "--status", "open", "--json").stdout)
    (item,) = [i for i in queue if i["check_id"] == check_id]
    assert {"check_id", "kind", "status", "due_at"} <= item.keys()
    assert (item["kind"], item["status"]) == ("contest", "open")

    decided = cli(
        "review", "decide", check_id, "--decision", "accept", "--reviewer", "Rita", "--note",
        "paid", "--json",
    )  # fmt: skip
    assert decided.exit_code == 0, decided.output
    view = json.loads(cli("show", check_id, "--json").stdout)
    assert SHOW_KEYS | {"automated", "review"} <= view.keys()
    assert view["decision"] == "accept" and view["automated"] is False
    assert {"status", "requested_at", "representations", "reviewer", "decided_at"} <= set(
        view["review"]
    )
    assert view["review"]["reviewer"] == "Rita"
    assert json.loads(cli("review", "list", "--json").stdout) == []

    again = cli(
        "review", "decide", check_id, "--decision", "decline", "--reviewer", "Sam", "--note",
        "no", "--json",
    )  # fmt: skip
    assert again.exit_code == 1
    assert json.loads(again.stdout)["error"] == "already_reviewed"


def test_missing_or_bad_options_exit_2_naming_each_and_change_nothing(
    cli: Any, tmp_path: Path
) -> None:
    check_id = _decided(cli, tmp_path, "carol")
    bad = cli("review", "decide", check_id, "--decision", "approve", "--json")
    assert bad.exit_code == 2
    fields = {p["field"] for p in json.loads(bad.stdout)["problems"]}
    assert fields == {"--decision", "--reviewer", "--note"}
    empty = cli("review", "request", check_id, "--representations", "  ", "--json")
    assert empty.exit_code == 2
    assert cli("review", "list", "--status", "sometimes").exit_code == 2
    bad_type = cli("fraud", "propose", check_id, "--case-type", "fraudish", "--json")
    assert bad_type.exit_code == 2
    assert {p["field"] for p in json.loads(bad_type.stdout)["problems"]} == {
        "--case-type",
        "--evidence",
        "--by",
    }
    view = json.loads(cli("show", check_id, "--json").stdout)
    assert view["review"] is None and view["fraud_cases"] == [] and view["version"] == 0


def test_a_fraud_case_confirmed_by_its_proposer_is_refused_and_by_another_is_filed(
    cli: Any, tmp_path: Path
) -> None:
    check_id = _decided(cli, tmp_path, "alice")
    proposed = cli(
        "fraud", "propose", check_id, "--case-type", "False Application", "--evidence",
        "payslips altered", "--by", "Pat", "--json",
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    case = json.loads(proposed.stdout)
    assert case["status"] == "proposed" and case["case_id"]
    queue = json.loads(cli("review", "list", "--json").stdout)
    assert [(i["kind"], i["case_id"]) for i in queue] == [("fraud_proposal", case["case_id"])]

    same = cli("fraud", "confirm", case["case_id"], "--by", "pat", "--json")
    assert same.exit_code == 1
    assert json.loads(same.stdout)["error"] == "same_person"

    confirmed = cli("fraud", "confirm", case["case_id"], "--by", "Quinn", "--json")
    assert confirmed.exit_code == 0, confirmed.output
    filed = json.loads(confirmed.stdout)
    assert filed["status"] == "confirmed" and filed["filing"]["status"] == "filed"
    assert filed["filing"]["cifas_reference"]
    view = json.loads(cli("show", check_id, "--json").stdout)
    assert view["decision"] == "decline" and view["flagged"] is True

    withdraw = cli("fraud", "withdraw", case["case_id"], "--by", "Pat", "--json")
    assert withdraw.exit_code == 1
    assert json.loads(withdraw.stdout)["error"] == "not_proposed"


def test_unknown_checks_and_cases_are_refused_with_exit_1(cli: Any) -> None:
    missing = cli("review", "request", "no-such-check", "--representations", "x", "--json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)["error"] == "not_found"
    case = cli("fraud", "confirm", "no-such-case", "--by", "Quinn", "--json")
    assert case.exit_code == 1 and json.loads(case.stdout)["error"] == "not_found"
