"""The contract between the domain and every agency adapter.

The domain hands an adapter a :class:`SearchRequest` and gets back one of the result types
below, whichever agency answered. Results are pydantic models so they can be stored (encrypted)
and read back unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import httpx

    from agencies.http import AgencyClient, HttpPolicy


_Mapped = TypeVar("_Mapped")


class AgencyKind(StrEnum):
    """What an agency is for."""

    CRA = "cra"  # credit reference agency
    FRAUD = "fraud"  # fraud prevention agency (Cifas)
    ALERT = "alert"  # retail fraud alert scheme (IMRG-style)


class SearchType(StrEnum):
    """The kind of search, which decides what footprint it leaves."""

    HARD = "hard"  # application search: visible to other lenders
    SOFT = "soft"  # quotation / account management: visible only to the consumer
    FRAUD = "fraud"  # fraud-prevention search: leaves no credit-file footprint


#: What a credit reference agency runs; a fraud search is another kind of agency's.
CREDIT_SEARCHES = frozenset({SearchType.HARD, SearchType.SOFT})


class Role(StrEnum):
    """Whose details a search is for."""

    APPLICANT = "applicant"
    JOINT = "joint"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Frozen):
    """A postal address with the dates the person lived there (``to`` is None if current)."""

    line1: str
    line2: str = ""
    town: str
    postcode: str
    from_date: date | None = None  # None for a delivery address
    to_date: date | None = None


class Person(_Frozen):
    """The identity details an agency searches on."""

    title: str = ""
    forename: str
    middle_names: str = ""
    surname: str
    date_of_birth: date
    email: str = ""
    phone: str = ""
    addresses: tuple[Address, ...]
    ip: str | None = None
    device_id: str | None = None

    @property
    def current_address(self) -> Address:
        """The address the person lives at now (listed first)."""
        return self.addresses[0]


#: The purpose of a search on a customer's existing account: every CRA has its own
#: account-management code for it, never a quotation code.
IN_LIFE = "in_life"


class Application(_Frozen):
    """What is applied for, why and through which channel: a check's and each of its searches'."""

    purpose: str = Field(description="new_order, upgrade, renewal, quotation or in_life")
    channel: str
    product_code: str
    credit_amount: Decimal
    term_months: int


class SearchRequest(Application):
    """One search at one agency, as the domain asks for it."""

    client_ref: str = Field(description="Stable per step: a retry reuses it so it is recognised")
    search_type: SearchType
    role: Role = Role.APPLICANT
    person: Person
    delivery_address: Address | None = None
    #: People the applicant declared as financial associates, for the CRAs whose request
    #: format carries them (empty on a joint applicant's search).
    associates: tuple[Person, ...] = ()


class ScoreBand(StrEnum):
    """A bureau-independent score band, so the policy does not read raw scores."""

    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    VERY_POOR = "very_poor"


class FraudMatch(_Frozen):
    """A fraud-prevention case matching the searched identity."""

    case_ref: str
    member: str = ""
    case_type: str = Field(description="e.g. Identity Fraud, False Application, Facility Takeover")
    category: str = ""
    subject_role: str = Field(description="e.g. applicant, victim, facility holder")
    input_date: date | None = None
    expiry_date: date | None = None


#: CreditResult fields no code used, no longer stored; older stored results drop them on read.
#: ``associates`` held other people's names in this person's result (data minimisation: the
#: policy never read them, and one person's record must not carry another's identity).
RETIRED_CREDIT_FIELDS = frozenset({"agency_decision", "associates"})


class _AgencyResult(_Frozen):
    """What every result starts with: its kind, who answered, and both sides' references."""

    kind: str
    agency: str
    #: The client reference the agency echoed (the search's own, or the answer is refused).
    client_ref: str
    agency_ref: str = ""


class CreditResult(_AgencyResult):
    """What a credit reference agency reports, mapped to one shape for every CRA."""

    kind: Literal["credit"] = "credit"
    #: None for a thin or no-trace file the agency could not score (then so is the band).
    score: int | None = None
    score_band: ScoreBand | None
    identity_verified: bool
    judgments: int = 0
    insolvency_current: bool = False
    defaults: int = 0
    hard_searches_3m: int = 0
    hard_searches_12m: int = 0
    fraud_markers: tuple[str, ...] = ()
    #: The person added a notice of correction (their own statement) to the file: a person
    #: must read it before a decision is made on the file.
    notice_of_correction: bool = False
    #: The identity is on a deceased register (an impersonation sign).
    deceased: bool = False

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any) -> Any:
        # Results stored before a field was retired (nothing used it, so it is no longer
        # kept) must still read back for a rerun or an export.
        if isinstance(data, dict) and RETIRED_CREDIT_FIELDS & data.keys():
            return {k: v for k, v in data.items() if k not in RETIRED_CREDIT_FIELDS}
        return data


class FraudResult(_AgencyResult):
    """What a fraud prevention agency reports: matching cases and protective markers."""

    kind: Literal["fraud"] = "fraud"
    matches: tuple[FraudMatch, ...] = ()
    protective_registration: bool = False
    #: The last day the protective registration is in force (None: no expiry given).
    protective_registration_expires: date | None = None

    @property
    def passed(self) -> bool:
        """No match: the identity passed. A match means the case needs review."""
        return not self.matches and not self.protective_registration


class Alert(_Frozen):
    """A retail fraud alert on one identifier."""

    code: Literal["fraudulent", "chargeback", "suspect"]
    identifier: Literal["address", "email", "ip", "device"]
    member: str = ""
    alerted_on: date | None = None


class AlertResult(_AgencyResult):
    """What a retail fraud alert scheme reports."""

    kind: Literal["alert"] = "alert"
    alerts: tuple[Alert, ...] = ()


SearchResult = Annotated[CreditResult | FraudResult | AlertResult, Field(discriminator="kind")]


class ResultEnvelope(_Frozen):
    """Wraps a result so any kind can be stored and read back (``model_validate_json``)."""

    result: SearchResult


class FraudCase(_Frozen):
    """A confirmed fraud case to file with a fraud prevention agency (after human review)."""

    client_ref: str
    case_type: Literal[
        "Identity Fraud",
        "Facility Takeover",
        "False Application",
        "Misuse of Facility",
        "Asset Conversion",
    ]
    person: Person
    product_code: str
    evidence_summary: str


class NoticeAnswer(StrEnum):
    """A CRA's answer to a notice of disassociation."""

    ACCEPTED = "accepted"  # the link is removed from the person's file
    REFUSED = "refused"  # a joint account between them is still open: the link stays
    PENDING = "pending"  # the CRA will confirm later: ask again with the same reference


class DisassociationNotice(_Frozen):
    """A notice that two people are no longer financially linked, for one CRA."""

    client_ref: str = Field(description="Stable per notice and CRA: a resend is recognised")
    person: Person
    associate: Person
    ended_on: date = Field(description="The date the link ended (the disassociation)")
    requested_by: Literal["subject", "operator"]


class NoticeReceipt(_Frozen):
    """What a CRA answered to a notice of disassociation."""

    agency: str
    client_ref: str
    answer: NoticeAnswer
    agency_ref: str = ""
    #: The CRA's own words for a refusal (e.g. "joint account open"); never personal data.
    detail: str = ""


class AgencyAdapter(ABC):
    """One agency behind one small contract: turn a search into its wire format and back.

    Subclasses set the class attributes and implement :meth:`search`. They never touch the
    database; the :class:`~agencies.http.AgencyClient` they are given owns timeouts, quick
    retries, the circuit breaker and authentication.
    """

    #: Registry name, e.g. "experian".
    name: ClassVar[str]
    kind: ClassVar[AgencyKind]
    #: Base URL the sandbox serves this agency on (``https://sandbox.<name>.test`` unless set).
    sandbox_base_url: ClassVar[str]
    #: Names of the credentials live mode needs (read from CHECKS_<AGENCY>_<NAME>).
    credential_names: ClassVar[tuple[str, ...]] = ()
    #: The search types the agency runs; any other is refused before anything is sent.
    search_types: ClassVar[frozenset[SearchType]] = frozenset(SearchType)
    #: The answer's field that echoes our client reference (named in the refusal message).
    echo_field: ClassVar[str] = "client reference"

    def __init__(self, client: AgencyClient) -> None:
        self.client = client

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and "sandbox_base_url" not in cls.__dict__:
            cls.sandbox_base_url = f"https://sandbox.{cls.name}.test"

    #: The header an agency that authenticates by a static API key wants it in (the key is
    #: the ``api_key`` credential); None for an agency that authenticates otherwise.
    api_key_header: ClassVar[str | None] = None

    @classmethod
    def make_auth(cls, base_url: str, credentials: Mapping[str, str]) -> httpx.Auth | None:
        """Authentication for this agency's calls: the API key in :attr:`api_key_header` if
        set (a static key: no refresh); a token flow overrides this. None if not needed."""
        if cls.api_key_header is None:
            return None
        from agencies.auth import ApiKeyAuth

        return ApiKeyAuth(cls.api_key_header, credentials.get("api_key", ""))

    @classmethod
    def default_policy(cls) -> HttpPolicy:
        """Timeouts, quick retries and breaker thresholds: the agency's row in the table."""
        from agencies.policies import policy_for

        return policy_for(cls.name)

    async def search(self, request: SearchRequest) -> CreditResult | FraudResult | AlertResult:
        """Run one search; raise an :mod:`agencies.errors` error if no usable answer came.

        The invariants live here, once for every adapter: a search type the agency does not
        run is refused before anything is sent, and an answer that echoes another search's
        client reference is never returned (so never stored against this search).
        """
        from agencies.errors import PermanentAgencyError

        if request.search_type not in self.search_types:
            runs = ", ".join(sorted(t.value for t in self.search_types))
            raise PermanentAgencyError(
                self.name,
                f"{self.name} runs {runs} searches, not {request.search_type.value}",
                sent=False,
                code="unsupported_search",
            )
        result = await self.run_search(request, self.code_for(request))
        self.ensure_echoed(result.client_ref, request.client_ref)
        return result

    @abstractmethod
    async def run_search(
        self, request: SearchRequest, code: str
    ) -> CreditResult | FraudResult | AlertResult:
        """The agency's own part of :meth:`search`: send the search under its ``code`` (see
        :meth:`purpose_code`) and map the answer, with the client reference the agency echoed."""

    #: A header the agency wants a fresh correlation id in on every JSON call (None: none).
    correlation_header: ClassVar[str | None] = None

    async def post_json(
        self, path: str, body: Any, describe_error: Callable[[httpx.Response], str]
    ) -> httpx.Response:
        """POST a JSON body, accepting JSON, with a new correlation id if the agency wants one."""
        import uuid

        headers = {"Accept": "application/json"}
        if self.correlation_header is not None:
            headers[self.correlation_header] = str(uuid.uuid4())
        return await self.client.request(
            "POST", path, json=body, headers=headers, describe_error=describe_error
        )

    def ensure_echoed(self, echoed: str, expected: str) -> None:
        """Raise :class:`~agencies.errors.UnusableResponse` unless the agency echoed
        ``expected``: an answer for another search or notice must never be stored."""
        from agencies.errors import UnusableResponse

        if echoed != expected:
            raise UnusableResponse(
                self.name, f"answer is for {self.echo_field} {echoed!r}, not {expected!r}"
            )

    #: The agency's one code for every search it runs (None: :meth:`purpose_code` decides).
    search_code: ClassVar[str | None] = None

    def purpose_code(self, request: SearchRequest) -> str:
        """The agency's own code for this search, recorded in the footprint ledger: its
        :attr:`search_code`, else the search type's."""
        return self.search_code or request.search_type.value.upper()

    def map_json(self, response: httpx.Response, map_answer: Callable[[Any], _Mapped]) -> _Mapped:
        """``map_answer`` applied to a JSON answer; a body that is not JSON, or a shape it
        cannot read, raises :class:`~agencies.errors.UnusableResponse`."""
        from agencies.parsing import json_answer, reading

        data = json_answer(self.name, response)
        with reading(self.name):
            return map_answer(data)

    def code_for(self, request: SearchRequest) -> str:
        """:meth:`purpose_code`, with a search type the agency cannot run (``purpose_code``
        raises ``ValueError``) refused before anything is sent."""
        from agencies.errors import PermanentAgencyError

        try:
            return self.purpose_code(request)
        except ValueError as exc:
            raise PermanentAgencyError(
                self.name, str(exc), sent=False, code="unsupported_search"
            ) from None

    async def file_case(self, case: FraudCase) -> str:
        """File a confirmed fraud case; return the agency's case reference."""
        raise NotImplementedError(f"{self.name} does not take fraud filings")

    async def send_disassociation(self, notice: DisassociationNotice) -> NoticeReceipt:
        """Send a notice of disassociation (CRAs only); sending one twice is recognised by
        its ``client_ref``. Raise an :mod:`agencies.errors` error if no usable answer came."""
        raise NotImplementedError(f"{self.name} does not take notices of disassociation")
