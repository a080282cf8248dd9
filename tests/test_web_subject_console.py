"""The compliance subject pages in a real headless browser (Debian's chromium).

Given decided checks, a compliance user opens a subject from a check's page, downloads the
subject access export, places a legal hold (erasure is then refused, saying why) and releases
it; a flagged subject's erasure is refused with the date retention ends. A reviewer cannot open
the subject pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.access import Role
from tests import test_web_console as first_round
from tests.helpers import request_for
from workers.runtime import Runtime

Tokens = Callable[[Role], str]

# The first round's browser, server, page and token fixtures, and its sign-in helper.
browser = first_round.browser
console_url = first_round.console_url
page = first_round.page
token_for = first_round.token_for
_sign_in = first_round._sign_in
_screenshot_dir = first_round._screenshot_dir


def _decided(runtime: Runtime, persona: str) -> dict[str, Any]:
    view = runtime.service.wait(runtime.service.submit(request_for(persona)).check_id, timeout=30)
    assert view["status"] == "decided"
    return view


def test_compliance_exports_holds_and_releases_a_subject_from_a_check_page(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens, tmp_path: Path
) -> None:
    alice = _decided(runtime, "alice")
    _sign_in(page, console_url, token_for(Role.COMPLIANCE))
    page.goto(f"{console_url}/console/checks/{alice['id']}")
    page.click("#subject-link")
    assert page.url.endswith(f"/console/subjects/{alice['subject_id']}")

    with page.expect_download() as download:
        page.click("#export")
    saved = tmp_path / "export.json"
    download.value.save_as(str(saved))
    document = json.loads(saved.read_text())
    assert [c["id"] for c in document["checks"]] == [alice["id"]]

    page.fill("input[name=reason]", "CASE-42")
    page.click("#hold")
    assert page.inner_text("#done") == "Legal hold placed."
    page.click("#erase")
    assert "legal hold" in page.inner_text("#refusal")
    page.click("#release")
    assert page.inner_text("#done") == "Legal hold released."
    assert runtime.service.get(alice["id"])["purged"] is False


def test_erasing_a_flagged_subject_is_refused_with_the_date_retention_ends(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens, tmp_path: Path
) -> None:
    dan = _decided(runtime, "dan")
    _sign_in(page, console_url, token_for(Role.COMPLIANCE))
    page.goto(f"{console_url}/console/subjects/{dan['subject_id']}")

    page.click("#erase")

    assert "fraud" in page.inner_text("#refusal")
    ends = page.inner_text("#retention-ends")
    assert ends in page.inner_text("#refusal")
    assert runtime.service.get(dan["id"])["purged"] is False
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "subject.png"), full_page=True)


def test_a_subject_is_found_from_posted_details_not_a_url(
    page: Any, console_url: str, runtime: Runtime, token_for: Tokens
) -> None:
    alice = _decided(runtime, "alice")
    _sign_in(page, console_url, token_for(Role.COMPLIANCE))
    page.click("text=Subjects")

    page.fill("textarea[name=person]", json.dumps(request_for("alice")["applicant"]))
    page.click("text=Find subject")

    assert page.locator("#found a").all_inner_texts() == [alice["subject_id"]]
    assert page.url.endswith("/console/subjects/search")


def test_a_reviewer_cannot_open_a_subject_page(
    page: Any, console_url: str, token_for: Tokens
) -> None:
    _sign_in(page, console_url, token_for(Role.REVIEWER))
    response = page.goto(f"{console_url}/console/subjects/anyone")
    assert response.status == 403
