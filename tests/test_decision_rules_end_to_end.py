"""Issue 9's decision rules end to end: personas through the sandbox, the runner and the store,
and the command line a user runs."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from agencies.sandbox import default_fixtures
from checks.models import SubjectFlag
from checks.samples import person_fields
from tests.conftest import make_runtime
from tests.helpers import request_for
from workers.cli import app
from workers.notify import outcome_payload
from workers.runtime import Runtime, set_runtime


class _Recorder:
    def send_run(self, check_id: str) -> None:
        pass


@pytest.fixture
def rt(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url)
    runtime.service.dispatcher = _Recorder()
    yield runtime
    set_runtime(None)
    runtime.store.dispose()


def _run(rt: Runtime, persona: str, **overrides: Any) -> dict[str, Any]:
    cid = rt.service.submit(request_for(persona, **overrides)).check_id
    asyncio.run(rt.runner.run(cid))
    view: dict[str, Any] = rt.service.get(cid)
    assert view["status"] == "decided", view["failure_reason"]
    return view


def _joint(persona: str) -> dict[str, Any]:
    return person_fields(default_fixtures().persona(persona))


def _flags(rt: Runtime, check_id: str) -> list[str]:
    with rt.store.session() as s:
        return list(
            s.scalars(select(SubjectFlag.subject_id).where(SubjectFlag.check_id == check_id))
        )


def test_dan_as_joint_applicant_flags_dan_and_not_alice(rt: Runtime) -> None:
    # Given Alice applying with Dan Impostor (a Cifas identity-fraud subject) as joint applicant
    view = _run(rt, "alice", joint_applicant=_joint("dan"))

    # Then the application is declined and Dan, only Dan, carries the fraud flag
    assert (view["decision"], view["flagged"]) == ("decline", True)
    assert _flags(rt, view["id"]) == [view["joint_subject_id"]]
    assert view["subject_id"] not in _flags(rt, view["id"])


def test_dan_as_applicant_flags_dan(rt: Runtime) -> None:
    view = _run(rt, "dan")
    assert _flags(rt, view["id"]) == [view["subject_id"]]


@pytest.mark.parametrize(
    ("persona", "code"),
    [
        ("nora", "NOTICE_OF_CORRECTION"),
        ("otto", "DECEASED"),
        ("bob", "IDENTITY_NOT_VERIFIED"),
        ("hana", "PROTECTIVE_REGISTRATION"),
    ],
)
def test_signals_that_need_a_person_refer_and_never_decline_or_flag(
    rt: Runtime, persona: str, code: str
) -> None:
    view = _run(rt, persona)
    assert (view["decision"], view["flagged"]) == ("refer", False)
    assert code in {r["code"] for r in view["reasons"]}
    assert _flags(rt, view["id"]) == []


def test_hana_at_two_bureaux_is_still_referred_never_declined(rt: Runtime) -> None:
    view = _run(rt, "hana", credit_amount="2500.00")
    assert (view["decision"], view["flagged"]) == ("refer", False)
    assert {f["agency"] for f in view["footprints"]} >= {"experian", "equifax"}


_RAW = re.compile(r"\b[A-Z]+(?:_[A-Z]+)+\b")


def test_every_personas_reasons_read_as_plain_english(rt: Runtime) -> None:
    for persona in (
        "alice",
        "bob",
        "carol",
        "dan",
        "erin",
        "frank",
        "hana",
        "ivan",
        "nora",
        "otto",
    ):
        for reason in _run(rt, persona)["reasons"]:
            assert not _RAW.search(reason["text"]), (persona, reason)


@pytest.mark.parametrize("amount", ["720.00", "2500.00"])
def test_in_life_searches_leave_account_management_footprints_at_every_cra(
    rt: Runtime, amount: str
) -> None:
    view = _run(rt, "alice", purpose="in_life", credit_amount=amount)
    codes = {f["agency"]: (f["search_type"], f["purpose_code"]) for f in view["footprints"]}
    assert codes and all(code == ("soft", "AM") for code in codes.values())


def test_the_requesters_notification_never_tips_off_a_fraud_match(rt: Runtime) -> None:
    # Given Dan's check, declined on a Cifas match
    payload = outcome_payload(_run(rt, "dan"))

    # Then the requester learns the decision and a neutral reason: no flag, no case, no code
    text = json.dumps(payload)
    assert payload["decision"] == "decline" and "flagged" not in payload
    assert [r["code"] for r in payload["reasons"]] == ["REFERRED_FOR_REVIEW"]
    assert "CIF" not in text and "FRAUD" not in text and "cifas" not in text.lower()


def test_the_requesters_notification_keeps_credit_reasons(rt: Runtime) -> None:
    payload = outcome_payload(_run(rt, "carol"))
    assert {"INSOLVENCY", "CCJS", "DEFAULTS"} <= {r["code"] for r in payload["reasons"]}


def test_hanas_notification_says_only_that_a_person_will_review(rt: Runtime) -> None:
    payload = outcome_payload(_run(rt, "hana"))
    assert payload["decision"] == "refer"
    assert [r["code"] for r in payload["reasons"]] == ["REFERRED_FOR_REVIEW"]
    assert "protective" not in json.dumps(payload).lower()


def test_an_internationalised_email_address_is_checked_end_to_end(rt: Runtime) -> None:
    request = request_for("alice")
    request["applicant"]["email"] = "siân@example.com"
    cid = rt.service.submit(request).check_id
    asyncio.run(rt.runner.run(cid))
    assert rt.service.get(cid)["decision"] == "accept"


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{tmp_path / 'checks.db'}")
    monkeypatch.delenv("CHECKS_SANDBOX_FAULTS", raising=False)
    set_runtime(None)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    yield invoke
    set_runtime(None)


def test_submit_refuses_a_joint_applicant_who_is_the_applicant(cli: Any, tmp_path: Path) -> None:
    # Given Alice named as her own joint applicant (name in other case, a new address)
    request = request_for("alice")
    same = _joint("alice")
    same["forename"] = "ALICE"
    same["addresses"][0]["postcode"] = "YO1 7HH"
    request["joint_applicant"] = same
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))

    # When it is submitted
    result = cli("submit", "--json", str(path))

    # Then it is invalid input naming joint_applicant, without echoing who it is
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert [p["field"] for p in problems] == ["joint_applicant"]
    assert "Alice" not in result.output and "1980" not in result.output


def test_submit_accepts_an_internationalised_email_address(cli: Any, tmp_path: Path) -> None:
    request = request_for("alice")
    request["applicant"]["email"] = "siân@example.com"
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    result = cli("submit", "--wait", "--json", str(path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"] == "accept"


def test_demo_shows_readable_reasons(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert "9 of 9 as expected" in result.stdout
    assert "county court judgments" in result.stdout and "protective registration" in result.stdout
    assert not _RAW.search(result.stdout.replace("MISMATCH", ""))
