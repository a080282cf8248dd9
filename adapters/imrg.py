"""IMRG-style retail fraud alert scheme: shared alerts on delivery address, email, IP, device.

Members of the scheme share alerts on four identifiers (first address line plus postcode,
email, IP address and device id), each coded ``fraudulent``, ``chargeback`` or ``suspect``.
It is modelled, as AGENCIES.md asks, as a small REST JSON API behind a member API key
(``X-IMRG-Key``): ``POST /alerts/search`` with the identifiers returns the matching alerts
with their code, member and date.

The scheme searches by identifiers, not by person, so a search sends those four identifiers
and nothing else about the person: no name, no date of birth (data minimisation). The sandbox
therefore finds a persona by identifier too: ``fixtures/imrg/alerted.json`` lists, per persona,
the identifiers their alerts were raised on, and :class:`ImrgSimulator` answers a search
matching any of them from that persona's ``fixtures/imrg/<persona>.json`` (anyone else gets the
default, alert-free answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from agencies.contract import (
    Address,
    AgencyAdapter,
    AgencyKind,
    Alert,
    AlertResult,
    SearchRequest,
    SearchType,
)
from agencies.parsing import BadShape, array, describe_error_object, field, iso_date, obj, text

SEARCH_PATH = "/alerts/search"
API_KEY_HEADER = "X-IMRG-Key"
#: The sandbox's index of which identifiers each persona's alerts are on.
ALERTED_FILE = "alerted.json"

AlertCode = Literal["fraudulent", "chargeback", "suspect"]
IdentifierType = Literal["address", "email", "ip", "device"]

#: The scheme's alert codes and the contract's; anything else is not an answer we can use.
ALERT_CODES: Mapping[str, AlertCode] = {
    "fraudulent": "fraudulent",
    "chargeback": "chargeback",
    "suspect": "suspect",
}
#: The scheme's identifier types and the contract's.
IDENTIFIER_TYPES: Mapping[str, IdentifierType] = {
    "address": "address",
    "email": "email",
    "ip": "ip",
    "device": "device",
}


#: The scheme answers errors as ``{"error": {"code", "message"}}``.
describe_error = describe_error_object


def searched_address(request: SearchRequest) -> Address:
    """The address the alert search is about: where the goods go, else where the person lives.

    Retail fraud concentrates on the delivery address (goods sent to a drop), so a delivery
    address, when given, is the one searched.
    """
    return request.delivery_address or request.person.current_address


def normalise_postcode(postcode: str) -> str:
    """``ls1 4ap`` / ``LS14AP`` as ``LS1 4AP``: members share alerts on the normalised form."""
    compact = "".join(postcode.split()).upper()
    # A UK postcode's inward code is always its last three characters.
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def build_search_body(request: SearchRequest, *, member_id: str) -> dict[str, Any]:
    """The ``POST /alerts/search`` body for one search (see the module docstring)."""
    person = request.person
    address = searched_address(request)
    return {
        "memberId": member_id,
        # Echoed back, and how the scheme recognises a retried search.
        "searchReference": request.client_ref,
        # Only the identifiers the scheme matches on: never a name or a date of birth.
        "identifiers": {
            "address": {
                "line1": address.line1.strip(),
                "postcode": normalise_postcode(address.postcode),
            },
            # An identifier we do not have is sent as null, never as "" (which could match).
            "email": person.email.strip().lower() or None,
            "ip": person.ip or None,
            "deviceId": person.device_id or None,
        },
    }


class ImrgAdapter(AgencyAdapter):
    """Retail fraud alert searches at the IMRG-style scheme (JSON, API key)."""

    name: ClassVar[str] = "imrg"
    kind: ClassVar[AgencyKind] = AgencyKind.ALERT
    credential_names: ClassVar[tuple[str, ...]] = ("api_key", "member_id")
    #: An alert search leaves no credit footprint; asking for another is a planning mistake.
    search_types: ClassVar[frozenset[SearchType]] = frozenset({SearchType.FRAUD})
    echo_field: ClassVar[str] = "searchReference"
    api_key_header: ClassVar[str | None] = API_KEY_HEADER
    #: Every search at the scheme is an alert search.
    search_code: ClassVar[str | None] = "ALERT"

    async def run_search(self, request: SearchRequest, code: str) -> AlertResult:
        """Search the scheme's alerts on the request's identifiers; map them to the contract."""
        body = build_search_body(request, member_id=self.client.credentials.get("member_id", ""))
        response = await self.post_json(SEARCH_PATH, body, describe_error)
        return self.map_json(response, self._map)

    def _map(self, data: Any) -> AlertResult:
        """Map a search answer to an :class:`AlertResult`; raise if it cannot be used."""
        root = obj(data, "answer")
        echoed = text(root, "searchReference", "answer")
        search_id = text(root, "searchId", "answer")
        if not search_id.strip():
            raise BadShape("answer.searchId is empty")
        alerts = tuple(
            _alert(obj(item, f"alerts[{i}]"), f"alerts[{i}]")
            for i, item in enumerate(array(root, "alerts", "answer"))
        )
        return AlertResult(agency=self.name, client_ref=echoed, agency_ref=search_id, alerts=alerts)


def _alert(item: Mapping[str, Any], where: str) -> Alert:
    if not text(item, "alertId", where).strip():
        raise BadShape(f"{where}.alertId is empty")
    code = text(item, "code", where)
    if code not in ALERT_CODES:
        # A code we do not know cannot be weighed by the policy: never guess its severity.
        raise BadShape(f"{where}.code {code!r} is not one of {', '.join(ALERT_CODES)}")
    identifier = text(item, "identifierType", where)
    if identifier not in IDENTIFIER_TYPES:
        raise BadShape(
            f"{where}.identifierType {identifier!r} is not one of {', '.join(IDENTIFIER_TYPES)}"
        )
    field(item, "raisedOn", where)
    raised_on = iso_date(item, "raisedOn", where)
    if raised_on is None:
        raise BadShape(f"{where}.raisedOn is empty")
    return Alert(
        code=ALERT_CODES[code],
        identifier=IDENTIFIER_TYPES[identifier],
        member=text(item, "member", where).strip(),
        alerted_on=raised_on,
    )
