"""``checkctl associations`` as a user runs it: SPEC keys, exit statuses, refusals as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agencies.sandbox import default_fixtures
from checks.samples import person_fields
from tests import test_cli
from tests.helpers import request_for
from tests.test_cli import _write

#: checkctl in-process on a fresh SQLite file (the CLI tests' fixture).
cli = test_cli.cli

LIST_KEYS = {
    "id",
    "subject_id",
    "associate_subject_id",
    "source",
    "source_check_id",
    "linked_at",
    "status",
    "notices",
}


def _submit(cli: Any, tmp_path: Path, request: dict[str, Any]) -> dict[str, Any]:
    result = cli("submit", _write(tmp_path, request), "--wait", "--json")
    assert result.exit_code == 0, result.output
    view: dict[str, Any] = json.loads(result.stdout)
    return view


def test_list_link_and_break_with_spec_keys(cli: Any, tmp_path: Path) -> None:
    joint = _submit(cli, tmp_path, request_for("frank"))
    alice = _submit(cli, tmp_path, request_for("alice"))
    frank, grace = joint["subject_id"], joint["joint_subject_id"]
    # The joint application's link, listed with SPEC's keys
    listed = cli("associations", "list", frank, "--json")
    assert listed.exit_code == 0, listed.output
    (link,) = json.loads(listed.stdout)
    assert set(link) >= LIST_KEYS
    assert (link["subject_id"], link["associate_subject_id"]) == (frank, grace)
    assert (link["source"], link["status"], link["notices"]) == ("joint_application", "active", [])
    # An operator links Frank and Alice
    made = cli(
        "associations", "link", frank, alice["subject_id"], "--source", "operator",
        "--note", "joint utility account", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["source"] == "operator"
    assert len(json.loads(cli("associations", "list", frank, "--json").stdout)) == 2
    # Breaking Frank and Grace: a notice to each CRA, tracked per CRA
    broke = cli(
        "associations", "break", str(link["id"]), "--requested-by", "subject",
        "--note", "separated", "--json",
    )  # fmt: skip
    assert broke.exit_code == 0, broke.output
    after = json.loads(broke.stdout)
    assert after["status"] == "breaking"
    assert {n["agency"]: n["status"] for n in after["notices"]} == {
        "callcredit": "refused",
        "equifax": "accepted",
        "experian": "accepted",
    }
    assert all({"agency", "status", "updated_at"} <= set(n) for n in after["notices"])
    # show names the association the check created
    shown = json.loads(cli("show", joint["id"], "--json").stdout)
    assert [(a["id"], a["created"]) for a in shown["associations"]] == [(link["id"], True)]


def test_invalid_input_exits_2_naming_the_option_without_personal_data(
    cli: Any, tmp_path: Path
) -> None:
    view = _submit(cli, tmp_path, request_for("alice"))
    subject = view["subject_id"]
    same = cli("associations", "link", subject, subject, "--source", "operator", "--note", "x")
    assert same.exit_code == 2 and "SUBJECT_B" in same.output
    bad = cli("associations", "link", subject, "other", "--source", "marriage", "--note", "x")
    assert bad.exit_code == 2 and "--source" in bad.output
    who = cli("associations", "break", "1", "--requested-by", "lender", "--note", "x", "--json")
    assert who.exit_code == 2
    problems = json.loads(who.stdout)["problems"]
    assert [p["field"] for p in problems] == ["--requested-by"]
    assert "Alice" not in same.output + bad.output + who.output


def test_a_joint_applicant_who_is_the_applicant_exits_2(cli: Any, tmp_path: Path) -> None:
    alice = person_fields(default_fixtures().persona("alice"))
    result = cli("submit", _write(tmp_path, request_for("alice", joint_applicant=alice)), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["problems"][0]["field"] == "joint_applicant"


def test_unknown_ids_and_a_broken_association_are_refused_with_exit_1(
    cli: Any, tmp_path: Path
) -> None:
    missing = cli("associations", "list", "no-such-subject", "--json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)["error"] == "not_found"
    gone = cli(
        "associations", "break", "999", "--requested-by", "operator", "--note", "x", "--json"
    )
    assert gone.exit_code == 1 and json.loads(gone.stdout)["error"] == "not_found"
    # Alice declared Bob; every CRA accepts the notice (Equifax after a pending answer)
    bob = person_fields(default_fixtures().persona("bob"))
    view = _submit(cli, tmp_path, request_for("alice", financial_associates=[bob]))
    (link,) = json.loads(cli("associations", "list", view["subject_id"], "--json").stdout)
    assert link["source"] == "declared"
    args = ("associations", "break", str(link["id"]), "--requested-by", "subject", "--note", "x")
    first = cli(*args, "--json")
    assert first.exit_code == 0 and json.loads(first.stdout)["status"] == "broken"
    again = cli(*args, "--json")
    assert again.exit_code == 1 and json.loads(again.stdout)["error"] == "already_broken"
