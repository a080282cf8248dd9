"""A stored result reads back as the same result.

A run decides on the results it wrote itself without reading them back (``Store.outcomes``'
``known``), and on results read back from the store for steps another run completed. Both must
be the same thing: every agency's answer for every persona survives ``ResultEnvelope``'s JSON
unchanged.
"""

from __future__ import annotations

import pytest

from agencies.contract import ResultEnvelope
from agencies.registry import adapter_paths
from agencies.sandbox import default_fixtures
from tests.adapter_harness import build, run_searches, search_request, search_type_for

PERSONAS = [p.key for p in default_fixtures().personas] + [None]


@pytest.mark.parametrize("agency", sorted(adapter_paths()))
def test_every_persona_s_result_reads_back_equal_to_what_was_stored(agency: str) -> None:
    agencies = build()
    kind = search_type_for(agencies, agency)
    requests = [
        search_request(key, client_ref=f"{i:032x}", search_type=kind)
        for i, key in enumerate(PERSONAS)
    ]
    for key, result in zip(PERSONAS, run_searches(agencies, agency, *requests), strict=True):
        stored = ResultEnvelope(result=result).model_dump_json()
        back = ResultEnvelope.model_validate_json(stored).result
        assert back == result, f"{agency}, persona {key}"
        assert type(back) is type(result)
