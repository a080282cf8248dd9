"""The fixture recorder and the HTTP sandbox, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import date
from pathlib import Path

import httpx
import pytest

from agencies.config import AgencySettings, build_agencies, build_sandbox
from agencies.contract import Address, CreditResult, Person, SearchType
from agencies.recorder import record, replacements, scrub
from agencies.registry import adapter_classes
from agencies.sandbox import FixtureStore, default_fixtures
from agencies.sandbox_server import SandboxServer
from fixtures import FIXTURES_DIR
from tests.adapter_harness import search_request

IDENTITY = Person(
    forename="John",
    surname="Testcase",
    date_of_birth=date(1979, 6, 15),
    email="john.testcase@agency-test.example",
    phone="+447700911911",
    addresses=(
        Address(
            line1="22 Acacia Avenue",
            town="Testford",
            postcode="TE5 7XX",
            from_date=date(2015, 1, 1),
        ),
    ),
    ip="198.51.100.23",
)


def _sandbox_credentials(agency: str) -> dict[str, str]:
    return {k: "sandbox" for k in adapter_classes()[agency].credential_names}


@pytest.fixture
def echoing_fixtures(tmp_path: Path) -> FixtureStore:
    """Fixtures whose default Experian answer echoes the test identity, as test systems do."""
    root = tmp_path / "agency-fixtures"
    shutil.copytree(FIXTURES_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    default = json.loads((root / "experian" / "default.json").read_text())
    default["originalRequestData"] = {
        "name": "JOHN TESTCASE",
        "dateOfBirth": "1979-06-15",
        "dob": "15/06/1979",
        "address": "22 ACACIA AVENUE, TESTFORD, TE5 7XX",
        "postal": "TE57XX",
        "email": "john.testcase@agency-test.example",
        "phone": "+447700911911",
    }
    (root / "experian" / "default.json").write_text(json.dumps(default))
    return FixtureStore(root)


def test_the_recorder_writes_an_answer_with_personal_data_replaced(
    tmp_path: Path, echoing_fixtures: FixtureStore
) -> None:
    # Given an agency test environment over real HTTP that echoes its test identity
    with SandboxServer(build_sandbox(fixtures=echoing_fixtures)) as server:
        out = tmp_path / "recorded"
        # When its answer for the test identity is recorded as Alice's fixture
        path = asyncio.run(
            record(
                "experian",
                server.base_url("experian"),
                _sandbox_credentials("experian"),
                IDENTITY,
                default_fixtures().persona("alice"),
                out,
            )
        )
    # Then the file holds none of the identity's personal values, and the persona's instead
    text = path.read_text()
    assert path == out / "experian" / "alice.json"
    for value in (
        "Testcase",
        "1979-06-15",
        "15/06/1979",
        "TE5 7XX",
        "TE57XX",
        "Acacia",
        "agency-test",
        "911911",
    ):
        assert value.casefold() not in text.casefold(), value
    assert "ALICE CLEAN" in text and "1980-01-01" in text
    # And the sandbox can serve the recorded file, which the adapter reads
    shutil.copy(FIXTURES_DIR / "personas.json", out / "personas.json")
    shutil.copy(FIXTURES_DIR / "experian" / "default.json", out / "experian" / "default.json")
    agencies = build_agencies(AgencySettings(), sandbox=build_sandbox(fixtures=FixtureStore(out)))

    async def go() -> object:
        try:
            return await agencies["experian"].search(search_request("alice"))
        finally:
            await agencies.aclose()

    assert isinstance(asyncio.run(go()), CreditResult)


def test_scrubbing_keeps_upper_case_and_replaces_every_form_of_the_date() -> None:
    pairs = replacements(IDENTITY, default_fixtures().persona("bob"))
    out = scrub("JOHN TESTCASE born 15061979 / 1979-06-15 at te5 7xx", pairs)
    assert out == "BOB THINFILE born 05052004 / 2004-05-05 at ZZ1 1ZZ"


def test_a_refused_search_records_nothing(tmp_path: Path) -> None:
    from agencies.errors import AuthenticationFailed
    from agencies.sandbox import parse_faults

    refusing = build_sandbox(AgencySettings(faults=parse_faults("experian=http401")))
    with SandboxServer(refusing) as server, pytest.raises(AuthenticationFailed):
        asyncio.run(
            record(
                "experian",
                server.base_url("experian"),
                _sandbox_credentials("experian"),
                IDENTITY,
                default_fixtures().persona("alice"),
                tmp_path,
            )
        )
    assert not (tmp_path / "experian").exists()


def test_live_mode_adapters_make_real_http_calls_to_the_sandbox_server() -> None:
    sandbox = build_sandbox()
    with SandboxServer(sandbox) as server:
        names = sorted(adapter_classes())
        settings = AgencySettings(
            mode="live",
            base_urls={n: server.base_url(n) for n in names},
            credentials={n: _sandbox_credentials(n) for n in names},
        )
        agencies = build_agencies(settings)

        async def go() -> list[object]:
            try:
                return [
                    await agencies[n].search(
                        search_request(
                            "carol",
                            search_type=SearchType.HARD
                            if n in ("experian", "equifax", "callcredit")
                            else SearchType.FRAUD,
                        )
                    )
                    for n in names
                ]
            finally:
                await agencies.aclose()

        results = asyncio.run(go())
        # A path an agency does not serve is the sandbox's error, as before any handler runs.
        unserved = httpx.post(server.base_url("experian") + "/no/such/path", timeout=10)
    assert [r.agency for r in results] == names  # type: ignore[attr-defined]
    credit = [r for r in results if isinstance(r, CreditResult)]
    assert credit and all(r.insolvency_current for r in credit)
    assert unserved.status_code == 500 and unserved.json() == {"error": "sandbox error"}
    # Each agency logged its search; the server keeps no call of its own beyond that log.
    assert {c.agency for c in sandbox.calls if c.operation == "search"} == set(names)
    assert sandbox.router.calls.call_count == 0
