"""The console's review queue and fraud forms in a real headless browser (Debian's chromium).

Given the app served on a loopback port with its in-process worker (the fixtures of
``tests/test_web_console.py``), a reviewer decides a referral from the queue, compliance
confirms a reviewer's fraud proposal, a submitter cannot open the queue, and a decide form
posted without its CSRF token is refused. ``/metrics`` scraped afterwards shows the decisions
and the agency latencies.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.access import Role
from tests import test_web_console as first_round
from tests.helpers import request_for
from workers.runtime import Runtime

Tokens = Callable[[Role], str]

# The first round's browser, server, page and token fixtures, and its helpers.
browser = first_round.browser
console_url = first_round.console_url
page = first_round.page
token_for = first_round.token_for
_sign_in = first_round._sign_in
_screenshot_dir = first_round._screenshot_dir


def _decided(runtime: Runtime, persona: str) -> str:
    check_id = runtime.service.submit(request_for(persona)).check_id
    assert runtime.service.wait(check_id, timeout=30)["status"] == "decided"
    return check_id


def test_a_reviewer_decides_a_referral_from_the_review_queue(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens, tmp_path: Path
) -> None:
    referral = _decided(runtime, "bob")
    contested = _decided(runtime, "carol")
    runtime.reviews.request(contested, "the CCJs were paid off last spring", "applicant")
    runtime.fraud.propose(_decided(runtime, "alice"), "identity_fraud", "forged ID", "ops-lead")

    _sign_in(page, console_url, token_for(Role.REVIEWER))
    page.click("text=Review queue")
    row = page.locator(f'tr[data-check="{referral}"]')
    assert "referral" in row.inner_text()
    assert "contest" in page.locator(f'tr[data-check="{contested}"]').inner_text()
    assert page.locator("#cases tr").count() == 2  # the header and the one proposal
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "reviews.png"), full_page=True)

    row.locator("select[name=decision]").select_option("accept")
    row.locator("input[name=note]").fill("identity seen in store")
    row.locator("button", has_text="Decide").click()

    assert page.url.endswith(f"/console/checks/{referral}")
    assert page.inner_text("#decision") == "accept"
    assert page.inner_text("#automated") == "by a person"
    assert "reviewer-person" in page.inner_text("table:last-of-type")
    view = runtime.service.get(referral)
    assert (view["decision"], view["automated"]) == ("accept", False)

    with urllib.request.urlopen(f"{console_url}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'checks_decisions_total{decision="accept",purpose="new_order"} 2.0' in metrics
    assert 'checks_agency_call_seconds_count{agency="experian",outcome="completed"} 3.0' in metrics


def test_compliance_confirms_a_reviewers_fraud_proposal(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens
) -> None:
    check_id = _decided(runtime, "bob")
    case = runtime.fraud.propose(check_id, "false_application", "payslips forged", "ana")

    _sign_in(page, console_url, token_for(Role.COMPLIANCE))
    page.goto(f"{console_url}/console/reviews")
    page.locator("#cases tr", has_text=case.case_id).locator("button", has_text="Confirm").click()

    assert page.url.endswith(f"/console/checks/{check_id}")
    assert page.inner_text("#decision") == "decline"
    assert "compliance-person" in page.inner_text("main")
    assert runtime.fraud.case(case.case_id).confirmed_by == "compliance-person"


def test_a_reviewer_proposes_a_fraud_case_from_the_check_page(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens
) -> None:
    check_id = _decided(runtime, "bob")
    _sign_in(page, console_url, token_for(Role.REVIEWER))
    page.goto(f"{console_url}/console/checks/{check_id}")

    page.select_option("form.propose select[name=case_type]", "identity_fraud")
    page.fill("form.propose input[name=evidence]", "documents did not match")
    page.click("text=Propose a Cifas filing")

    assert page.url.endswith(f"/console/checks/{check_id}")
    assert "proposed" in page.inner_text("main")
    [item] = [i for i in runtime.reviews.queue() if i["kind"] == "fraud_proposal"]
    assert item["check_id"] == check_id


def test_a_submitter_cannot_open_the_review_queue(
    page: Any, console_url: str, token_for: Tokens
) -> None:
    _sign_in(page, console_url, token_for(Role.SUBMITTER))
    response = page.goto(f"{console_url}/console/reviews")
    assert response.status == 403
    assert "Not allowed" in page.inner_text("h1")


def test_a_decide_form_posted_without_its_csrf_token_is_refused(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens
) -> None:
    referral = _decided(runtime, "bob")
    _sign_in(page, console_url, token_for(Role.REVIEWER))
    page.goto(f"{console_url}/console/reviews")

    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    row = page.locator(f'tr[data-check="{referral}"]')
    row.locator("input[name=note]").fill("x")
    row.locator("button", has_text="Decide").click()

    assert "Form refused" in page.inner_text("h1")
    assert runtime.service.get(referral)["automated"] is True


def test_a_decision_on_a_page_that_went_stale_is_refused_as_a_conflict(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens
) -> None:
    referral = _decided(runtime, "bob")
    _sign_in(page, console_url, token_for(Role.REVIEWER))
    page.goto(f"{console_url}/console/checks/{referral}")
    runtime.reviews.decide(referral, "decline", "someone-else", "decided first")

    page.fill("form.decide input[name=note]", "too late")
    page.click("text=Record decision")

    assert "Not done" in page.inner_text("h1")
    assert "changed by someone else" in page.inner_text("main")
    assert runtime.service.get(referral)["decision"] == "decline"
