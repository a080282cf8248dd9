"""Data minimisation: nothing is kept that no code uses, and stored results still read back."""

from __future__ import annotations

import pytest

from agencies.contract import CreditResult, ResultEnvelope
from tests.adapter_harness import build, run_searches, search_request


@pytest.mark.parametrize("agency", ["experian", "equifax", "callcredit"])
def test_a_credit_result_keeps_no_other_persons_name(agency: str) -> None:
    # Given Frank, whose file names Grace Joint as a financial associate at every CRA
    (result,) = run_searches(build(agency), agency, search_request("frank"))

    # When his result is stored (as JSON, encrypted)
    stored = ResultEnvelope(result=result).model_dump_json()

    # Then Grace's name is not in it: the policy never used it
    assert isinstance(result, CreditResult)
    assert "GRACE" not in stored.upper()


def test_a_result_stored_before_fields_were_retired_still_reads_back() -> None:
    # Given a result stored by an earlier version, with fields no longer kept
    old = (
        '{"result": {"kind": "credit", "agency": "experian", "client_ref": "r", "score": 900,'
        ' "score_band": "good", "identity_verified": true, "agency_decision": "ACCEPT",'
        ' "associates": [{"name": "GRACE JOINT", "source": "experian"}]}}'
    )

    # When it is read for a rerun or an export
    result = ResultEnvelope.model_validate_json(old).result

    # Then it reads, without the retired fields
    assert isinstance(result, CreditResult) and result.score == 900
    assert "associates" not in result.model_dump() and "agency_decision" not in result.model_dump()


def test_an_unknown_field_in_a_stored_result_is_still_refused() -> None:
    # Only retired fields are dropped; anything else unexpected is still an error.
    with pytest.raises(ValueError, match="surprise"):
        ResultEnvelope.model_validate_json(
            '{"result": {"kind": "credit", "agency": "e", "client_ref": "r",'
            ' "score_band": "good", "identity_verified": true, "surprise": 1}}'
        )
