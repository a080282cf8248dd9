"""What every credit reference agency's adapter shares, written once.

A CRA runs hard and soft searches, each under one of its own codes (:class:`CreditCodes`), and
takes notices of disassociation. :class:`CreditAgencyAdapter` owns the notice's invariant as
:meth:`~agencies.contract.AgencyAdapter.search` owns the search's: a receipt that echoes another
notice's reference is never returned (so never stored against this notice).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from agencies.contract import (
    CREDIT_SEARCHES,
    AgencyAdapter,
    AgencyKind,
    CreditResult,
    DisassociationNotice,
    NoticeAnswer,
    NoticeReceipt,
    ScoreBand,
    SearchRequest,
    SearchType,
)
from agencies.parsing import MAX_ERROR_DETAIL
from agencies.wire import credit_purpose


@dataclass(frozen=True)
class CreditCodes:
    """A CRA's own codes for a credit search, recorded in the footprint ledger: an
    application's (a hard search), a quotation's and a customer's existing account's (soft)."""

    application: str
    quotation: str
    in_life: str
    #: Further application codes the agency takes (e.g. one per product line), all hard.
    more_applications: tuple[str, ...] = ()

    def code(self, request: SearchRequest, *, application: str | None = None) -> str:
        """The code for ``request`` (``application``: one of :attr:`more_applications`)."""
        return credit_purpose(
            request,
            hard=application or self.application,
            quotation=self.quotation,
            in_life=self.in_life,
        )

    def search_types(self) -> dict[str, SearchType]:
        """Each code with the search type it stands for."""
        hard = dict.fromkeys((*self.more_applications, self.application), SearchType.HARD)
        return {**hard, self.quotation: SearchType.SOFT, self.in_life: SearchType.SOFT}


class CreditAgencyAdapter(AgencyAdapter):
    """A credit reference agency: hard and soft searches under its :attr:`codes`, and notices
    of disassociation (:meth:`run_notice`)."""

    kind: ClassVar[AgencyKind] = AgencyKind.CRA
    search_types: ClassVar[frozenset[SearchType]] = CREDIT_SEARCHES
    #: The agency's codes for its searches.
    codes: ClassVar[CreditCodes]

    def purpose_code(self, request: SearchRequest) -> str:
        """The agency's code for this search, from its :attr:`codes`."""
        return self.codes.code(request)

    async def send_disassociation(self, notice: DisassociationNotice) -> NoticeReceipt:
        """Send a notice of disassociation; a receipt for another notice is refused."""
        receipt = await self.run_notice(notice)
        self.ensure_echoed(receipt.client_ref, notice.client_ref)
        return receipt

    @abstractmethod
    async def run_notice(self, notice: DisassociationNotice) -> NoticeReceipt:
        """The agency's own part of :meth:`send_disassociation`: send the notice and read the
        answer into a :meth:`receipt`, with the client reference the agency echoed."""

    def credit_result(
        self, echoed: str, agency_ref: str, score: int, band: ScoreBand, **signals: Any
    ) -> CreditResult:
        """This agency's result for the search whose reference it ``echoed``: the score on its
        own scale and the contract's ``band`` for it, with the file's ``signals``."""
        return CreditResult(
            agency=self.name,
            client_ref=echoed,
            agency_ref=agency_ref,
            score=score,
            score_band=band,
            **signals,
        )

    def receipt(
        self, echoed: str, answer: NoticeAnswer, agency_ref: str, detail: str
    ) -> NoticeReceipt:
        """A receipt from this agency (``detail`` cut to a short message's length)."""
        return NoticeReceipt(
            agency=self.name,
            client_ref=echoed,
            answer=answer,
            agency_ref=agency_ref,
            detail=detail[:MAX_ERROR_DETAIL],
        )
