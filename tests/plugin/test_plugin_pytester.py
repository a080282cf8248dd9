"""The pytest plugin, as another team's suite uses it: nothing but the installed package."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SAMPLE_SUITE = """
import pytest


def test_a_clean_applicant_is_accepted(run_check, persona_request, assert_one_search):
    view = run_check(persona_request("alice"))
    assert view["status"] == "decided" and view["decision"] == "accept"
    assert_one_search("experian")


def test_choose_a_persona_and_see_the_decline(run_check, persona_request):
    view = run_check(persona_request("dan"))
    assert view["decision"] == "decline" and view["flagged"]


@pytest.mark.agency_faults("experian=flaky:1")
def test_a_flaky_agency_still_leaves_one_search(run_check, persona_request, checks_sandbox,
                                                assert_one_search):
    view = run_check(persona_request("alice"))
    assert view["decision"] == "accept"
    assert len(checks_sandbox.calls_to("experian", "search")) == 2  # a 503, then the retry
    assert_one_search("experian")


@pytest.mark.agency_faults("cifas=http401")
def test_a_rejected_credential_fails_the_check_and_never_declines(run_check, persona_request):
    view = run_check(persona_request("alice"))
    assert view["status"] == "failed" and view["decision"] is None


def test_faults_can_change_mid_test(run_check, persona_request, checks_sandbox, checks_service):
    checks_sandbox.set_faults("cifas=http401")
    failed = run_check(persona_request("carol"))
    assert failed["status"] == "failed"
    checks_sandbox.set_faults(None)
    checks_service.rerun(failed["id"], actor="test")
    view = checks_service.wait(failed["id"], timeout=30)
    assert view["decision"] == "decline"
    assert len(checks_sandbox.calls_to("experian", "search")) == 1


@pytest.mark.agency_latency("experian=50")
def test_latency_is_injected(run_check, persona_request):
    import time
    started = time.monotonic()
    run_check(persona_request("ivan"))
    assert time.monotonic() - started >= 0.05
"""


def test_another_teams_suite_uses_only_the_installed_plugin(pytester: pytest.Pytester) -> None:
    # Given a suite with no conftest and no imports of this project
    pytester.makepyfile(test_orders=SAMPLE_SUITE)
    # When it runs in a fresh process (the plugin comes from the package's entry point)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    # Then every test passes
    result.assert_outcomes(passed=6)


def test_the_plugin_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*agency_faults(spec)*", "*agency_latency(spec)*"])


def test_a_suite_that_never_uses_the_fixtures_sees_its_environment_untouched(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a suite of another team that sets no CHECKS_ variable and uses no fixture of ours
    pytester.makepyfile(
        test_env="""
import os

def test_environment_is_as_the_suite_left_it():
    assert "CHECKS_BROKER_URL" not in os.environ
"""
    )
    # When it runs with our plugin installed
    monkeypatch.delenv("CHECKS_BROKER_URL", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    # Then the plugin changed nothing
    result.assert_outcomes(passed=1)
