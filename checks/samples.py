"""Sample check requests for the sandbox personas (demo, tests, other teams' suites)."""

from __future__ import annotations

import copy
from typing import Any

from agencies.sandbox import FixtureStore, Persona, default_fixtures

_ADDRESSES = [
    {
        "line1": "10 High Street",
        "line2": "",
        "town": "Leeds",
        "postcode": "LS1 4AP",
        "from": "2021-06-01",
        "to": None,
    },
    {
        "line1": "4 Mill Lane",
        "line2": "",
        "town": "York",
        "postcode": "YO1 7HH",
        "from": "2016-02-01",
        "to": "2021-05-31",
    },
]


def person_fields(persona: Persona) -> dict[str, Any]:
    """The person fields of a request for this persona."""
    return {
        "title": "Mx",
        "forename": persona.forename,
        "middle_names": "",
        "surname": persona.surname,
        "date_of_birth": persona.date_of_birth.isoformat(),
        "email": f"{persona.forename.lower()}.{persona.surname.lower()}@example.com",
        "phone": "+447700900123",
        "addresses": copy.deepcopy(_ADDRESSES),
        "employment": {"status": "employed", "annual_income": "32000.00"},
        "device": {"ip": "203.0.113.7"},
    }


def persona_request(
    key: str,
    idempotency_key: str,
    *,
    purpose: str = "new_order",
    channel: str = "store",
    credit_amount: str = "720.00",
    fixtures: FixtureStore | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid request for a persona, with the extras its story needs.

    Erin orders online for delivery elsewhere (so the retail alert scheme is searched); Frank
    applies jointly with Grace.
    """
    fx = fixtures or default_fixtures()
    persona = fx.persona(key)
    request: dict[str, Any] = {
        "idempotency_key": idempotency_key,
        "purpose": purpose,
        "channel": channel,
        "product": {"code": "MOBILE-24M", "credit_amount": credit_amount, "term_months": 24},
        "applicant": person_fields(persona),
        "joint_applicant": None,
        "financial_associates": [],
        "delivery_address": None,
        "requested_by": "sandbox-demo",
        "notify": None,
    }
    if key == "erin":
        request["channel"] = "online"
        request["delivery_address"] = {
            "line1": "Unit 7 Dock Road",
            "line2": "",
            "town": "Hull",
            "postcode": "HU1 1AA",
        }
    if persona.joint_with:
        request["joint_applicant"] = person_fields(fx.persona(persona.joint_with))
    request.update(overrides)
    return request
