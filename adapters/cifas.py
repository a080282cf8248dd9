"""Cifas: National Fraud Database search and filing, modelled as a JSON REST service.

Cifas publishes no API, so this follows AGENCIES.md: ``POST /nfd/v2/search`` returns the
matching cases in Cifas's own field names (``casereferenceno``, ``fraudcategory``...) plus any
Protective Registration, and ``POST /nfd/v2/cases`` files a confirmed case. Calls carry the
member's API key in ``X-API-Key``. :class:`CifasSimulator` answers from ``fixtures/cifas/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from agencies.contract import (
    AgencyAdapter,
    AgencyKind,
    FraudCase,
    FraudMatch,
    FraudResult,
    Person,
    SearchRequest,
)
from agencies.errors import UnusableResponse
from agencies.parsing import BadShape, array, describe_error_object, field, iso_date, obj, text

SEARCH_PATH = "/nfd/v2/search"
CASES_PATH = "/nfd/v2/cases"
API_KEY_HEADER = "X-API-Key"

#: Cifas fraud categories: the code on a case and the case type it stands for.
FRAUD_CATEGORIES: Mapping[str, str] = {
    "01": "Identity Fraud",
    "02": "Facility Takeover",
    "03": "False Application",
    "04": "Misuse of Facility",
    "05": "Asset Conversion",
}
CATEGORY_OF_CASE_TYPE: Mapping[str, str] = {v: k for k, v in FRAUD_CATEGORIES.items()}

RESULT_PASSED = "passed"
RESULT_REVIEW = "review"
_PROTECTIVE_REGISTRATION = "protective registration"


#: Cifas answers errors as ``{"error": {"code", "message"}}``.
describe_error = describe_error_object


def case_type_of(description: str, category: str) -> str:
    """The contract's case type for a Cifas case: from its description, else its category.

    An unknown description is kept as given rather than dropped: a match Cifas reports must
    reach the policy even if its category is new to us.
    """
    described = description.strip().casefold()
    for case_type in FRAUD_CATEGORIES.values():
        if described.startswith(case_type.casefold()):
            return case_type
    return FRAUD_CATEGORIES.get(category.strip(), description.strip())


def wire_applicant(person: Person) -> dict[str, Any]:
    """The ``applicant`` (search) or ``subject`` (filing) object for one person."""
    return {
        "forename": person.forename,
        "middleNames": person.middle_names,
        "surname": person.surname,
        "dateOfBirth": person.date_of_birth.isoformat(),
        "addresses": [
            {
                "addressType": "current" if i == 0 else "previous",
                "addressLine1": address.line1,
                "addressLine2": address.line2,
                "town": address.town,
                "postcode": address.postcode,
            }
            for i, address in enumerate(person.addresses)
        ],
        "email": person.email or None,
        "phone": person.phone or None,
        "ipAddress": person.ip,
    }


class CifasAdapter(AgencyAdapter):
    """Fraud-prevention searches and case filing at Cifas (National Fraud Database)."""

    name: ClassVar[str] = "cifas"
    kind: ClassVar[AgencyKind] = AgencyKind.FRAUD
    credential_names: ClassVar[tuple[str, ...]] = ("api_key", "member_number")
    echo_field: ClassVar[str] = "memberSearchReference"
    api_key_header: ClassVar[str | None] = API_KEY_HEADER
    #: Every Cifas search is a National Fraud Database search.
    search_code: ClassVar[str | None] = "NFD"

    async def run_search(self, request: SearchRequest, code: str) -> FraudResult:
        """Search the National Fraud Database for the applicant; map cases to matches."""
        body = {
            "memberNumber": self.client.credentials.get("member_number", ""),
            "memberSearchReference": request.client_ref,
            "product": request.product_code,
            "applicant": wire_applicant(request.person),
        }
        response = await self.post_json(SEARCH_PATH, body, describe_error)
        return self.read_search_answer(response)

    async def file_case(self, case: FraudCase) -> str:
        """File a confirmed case (a person has already confirmed it); return Cifas's reference."""
        body = {
            "memberNumber": self.client.credentials.get("member_number", ""),
            # Lets Cifas recognise a repeated filing of the same case.
            "memberCaseReference": case.client_ref,
            "fraudcategory": CATEGORY_OF_CASE_TYPE[case.case_type],
            "frauddesc": case.case_type,
            "productcode": case.product_code,
            "subjectrole": "Applicant",
            "subject": wire_applicant(case.person),
            "evidenceSummary": case.evidence_summary,
        }
        response = await self.post_json(CASES_PATH, body, describe_error)
        reference = self.map_json(response, _case_reference)
        if not reference:
            raise UnusableResponse(self.name, "filing answer has an empty casereferenceno")
        return reference

    def read_search_answer(self, response: httpx.Response) -> FraudResult:
        """Map a search answer to a :class:`FraudResult`; raise if it cannot be used."""
        return self.map_json(response, self._map)

    def _map(self, data: Any) -> FraudResult:
        root = obj(data, "answer")
        echoed = text(root, "memberSearchReference", "answer")
        search_ref = text(root, "searchReference", "answer")
        if not search_ref:
            raise BadShape("searchReference is empty")
        result = text(root, "result", "answer")
        if result not in (RESULT_PASSED, RESULT_REVIEW):
            raise BadShape(f"result {result!r} is neither passed nor review")
        raw_cases = array(root, "cases", "answer")

        registration = obj(
            field(root, "protectiveRegistration", "answer"), "protectiveRegistration"
        )
        registered = field(registration, "registered", "protectiveRegistration")
        if not isinstance(registered, bool):
            raise BadShape("protectiveRegistration.registered is not true or false")
        # A registration lasts two years: the policy judges its expiry on the day it decides.
        expires = iso_date(registration, "expiresOn", "protectiveRegistration")

        matches: list[FraudMatch] = []
        for i, item in enumerate(raw_cases):
            case = obj(item, f"cases[{i}]")
            description = text(case, "frauddesc", f"cases[{i}]")
            # A Protective Registration is a victim's marker, never fraud by the person, even
            # if it arrives listed among the cases.
            if _PROTECTIVE_REGISTRATION in description.casefold():
                registered = True
                # Its case's expiry is the registration's, if the block gave none.
                expires = expires or iso_date(case, "expirydate", f"cases[{i}]")
                continue
            matches.append(_match(case, f"cases[{i}]"))

        # "passed" with cases, or "review" with nothing to review, is a contradiction: never
        # guess which half is right.
        if (result == RESULT_REVIEW) != bool(matches or registered):
            raise BadShape(
                f"result {result!r} contradicts {len(matches)} case(s) and "
                f"protective registration {registered}"
            )
        return FraudResult(
            agency=self.name,
            client_ref=echoed,
            agency_ref=search_ref,
            matches=tuple(matches),
            protective_registration=registered,
            protective_registration_expires=expires if registered else None,
        )


def _case_reference(data: Any) -> str:
    return text(obj(data, "filing answer"), "casereferenceno", "filing answer")


def _match(case: Mapping[str, Any], where: str) -> FraudMatch:
    reference = text(case, "casereferenceno", where)
    if not reference:
        raise BadShape(f"{where}.casereferenceno is empty")
    category = text(case, "fraudcategory", where)
    case_type = case_type_of(text(case, "frauddesc", where), category)
    if not case_type:
        raise BadShape(f"{where} has neither a known fraudcategory nor a frauddesc")
    return FraudMatch(
        case_ref=reference,
        member=text(case, "membername", where) or text(case, "membernumber", where),
        case_type=case_type,
        category=category,
        # Lower case, as the contract's examples ("applicant", "victim", "facility holder").
        subject_role=text(case, "subjectrole", where).strip().lower(),
        input_date=iso_date(case, "inputdate", where),
        expiry_date=iso_date(case, "expirydate", where),
    )
