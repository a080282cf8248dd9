"""The operations console in a real headless browser (Debian's chromium, driven by Playwright).

Given the app served by uvicorn on a loopback port with an in-process worker, a person signs in
with a token, finds a failed check, reruns it and sees it decided; forms without their CSRF
token are refused; a submitter cannot open operators' pages. Where chromium is missing the
tests skip saying why, except under CHECKS_REQUIRE_INTEGRATION=1 (CI), where that fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from checks.access import Role
from checks.tokens import TokenService
from tests.helpers import request_for
from web import create_app
from web.settings import WebSettings
from workers.runtime import Runtime

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return "console browser tests need Debian's chromium (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "console browser tests need the playwright package (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module."""
    why = _browser_missing()
    if why:
        if os.environ.get("CHECKS_REQUIRE_INTEGRATION") == "1":
            pytest.fail(why + "; CHECKS_REQUIRE_INTEGRATION=1 forbids skipping")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def console_url(runtime: Runtime) -> Iterator[str]:
    """The app served on a loopback port, with its in-process worker; yields the base URL."""
    app = create_app(runtime, WebSettings(rate_per_second=1000, rate_burst=2000), run_worker=True)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the console server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture
def token_for(runtime: Runtime) -> Callable[[Role], str]:
    """Issue a token for a role."""
    tokens = TokenService(runtime.store)
    return lambda role: tokens.create(f"{role.value}-person", role, actor="test").token


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


def _sign_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/")
    assert page.url.endswith("/console/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def _failed_check(runtime: Runtime) -> str:
    sandbox = runtime.agencies.sandbox
    assert sandbox is not None
    sandbox.set_faults("cifas=http401")  # fails at once: wrong credentials are not retried
    check_id = runtime.service.submit(request_for("alice")).check_id
    assert runtime.service.wait(check_id, timeout=30)["status"] == "failed"
    sandbox.set_faults(None)
    return check_id


def _screenshot_dir(tmp_path: Path) -> Path:
    # Set CHECKS_SCREENSHOT_DIR=docs/screenshots to refresh the README's pictures.
    return Path(os.environ.get("CHECKS_SCREENSHOT_DIR") or tmp_path)


def test_an_operator_signs_in_reruns_a_failed_check_and_sees_it_decided(
    page: Any,
    console_url: str,
    runtime: Runtime,
    token_for: Callable[[Role], str],
    tmp_path: Path,
) -> None:
    for persona in ("alice", "carol", "bob"):
        runtime.service.wait(runtime.service.submit(request_for(persona)).check_id, timeout=30)
    check_id = _failed_check(runtime)
    shots = _screenshot_dir(tmp_path)

    _sign_in(page, console_url, token_for(Role.OPERATOR))
    assert page.inner_text("#count-failed") == "1"
    assert page.inner_text("#count-decided") == "3"
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

    page.click("text=Failed checks")
    row = page.locator("tr", has_text=check_id)
    assert "failed" in row.inner_text()
    row.locator("button", has_text="Rerun").click()

    assert page.url.endswith(f"/console/checks/{check_id}")
    deadline = time.monotonic() + 30
    while page.inner_text("#status") != "decided":
        assert time.monotonic() < deadline, "the rerun check was not decided"
        time.sleep(0.2)
        page.reload()
    assert page.inner_text("#decision") == "accept"
    assert "operator-person" in page.inner_text("table:last-of-type")
    page.screenshot(path=str(shots / "check.png"), full_page=True)


def test_a_bulk_rerun_shows_a_preview_before_rerunning(
    page: Any, console_url: str, runtime: Runtime, token_for: Callable[[Role], str]
) -> None:
    ids = {_failed_check(runtime) for _ in range(2)}
    _sign_in(page, console_url, token_for(Role.OPERATOR))
    page.goto(f"{console_url}/console/checks?status=failed")

    page.fill("input[name=agency]", "cifas")
    page.click("text=Preview bulk rerun")
    assert "2 failed check(s) involving cifas would be rerun" in page.inner_text("main")
    assert runtime.service.list_checks(status="failed") != []  # nothing changed yet
    page.click("text=Rerun these 2")

    assert set(page.locator("td a").all_inner_texts()) == ids
    for cid in ids:
        assert runtime.service.wait(cid, timeout=30)["decision"] == "accept"


def test_a_form_posted_without_its_csrf_token_is_refused(
    page: Any, console_url: str, runtime: Runtime, token_for: Callable[[Role], str]
) -> None:
    check_id = _failed_check(runtime)
    _sign_in(page, console_url, token_for(Role.OPERATOR))
    page.goto(f"{console_url}/console/checks/{check_id}")

    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.click("#rerun")

    assert "Form refused" in page.inner_text("h1")
    assert runtime.service.get(check_id)["status"] == "failed"


def test_a_wrong_token_does_not_sign_in(page: Any, console_url: str) -> None:
    _sign_in(page, console_url, "chk_not-a-token")
    assert "That token is not valid." in page.inner_text("main")
    page.goto(f"{console_url}/console/")
    assert page.url.endswith("/console/login")


def test_a_submitter_cannot_open_the_operators_pages(
    page: Any, console_url: str, token_for: Callable[[Role], str]
) -> None:
    _sign_in(page, console_url, token_for(Role.SUBMITTER))
    response = page.goto(f"{console_url}/console/checks?status=failed")
    assert response.status == 403
    assert "Not allowed" in page.inner_text("h1")


def test_the_session_cookie_is_httponly_and_samesite(
    page: Any, console_url: str, token_for: Callable[[Role], str]
) -> None:
    _sign_in(page, console_url, token_for(Role.OPERATOR))
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["checks_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert "chk_" not in session["value"]  # the token itself never sits in the browser
