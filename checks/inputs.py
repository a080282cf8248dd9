"""What a check searches with, taken from a validated request and stored encrypted.

The stored form uses the agency contract's types, so a rerun months later rebuilds exactly the
same searches without re-validating the request against a later date.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from agencies.contract import Address, Application, Person, Role, SearchRequest, SearchType
from checks.crypto import normalise_identity
from checks.request_fields import Purpose

if TYPE_CHECKING:  # the request models: only a submission maps one (a run reads stored inputs)
    from checks import request as rq


class CheckInputs(Application):
    """Everything the searches of one check need: the application, and who applies."""

    purpose: Purpose
    applicant: Person
    joint: Person | None = None
    associates: tuple[Person, ...] = ()
    delivery_address: Address | None = None

    def person(self, role: Role) -> Person:
        """The person a step with this role searches on."""
        if role is Role.JOINT:
            if self.joint is None:
                raise ValueError("check has no joint applicant")
            return self.joint
        return self.applicant

    def search_request(self, role: Role, search_type: SearchType, client_ref: str) -> SearchRequest:
        """The contract request for one step."""
        return SearchRequest(
            client_ref=client_ref,
            search_type=search_type,
            purpose=self.purpose,
            role=role,
            person=self.person(role),
            product_code=self.product_code,
            credit_amount=self.credit_amount,
            term_months=self.term_months,
            channel=self.channel,
            delivery_address=self.delivery_address,
            # Declared associates belong to the applicant's search, not the joint applicant's.
            associates=self.associates if role is Role.APPLICANT else (),
        )

    @property
    def delivery_differs(self) -> bool:
        """Whether goods go somewhere other than the applicant's current address."""
        if self.delivery_address is None:
            return False
        home = self.applicant.current_address
        d = self.delivery_address
        return (d.line1.casefold(), d.postcode.replace(" ", "").upper()) != (
            home.line1.casefold(),
            home.postcode.replace(" ", "").upper(),
        )


def _address(a: rq.Address | rq.DeliveryAddress) -> Address:
    from checks.request_models import Address as AddressWithDates

    if isinstance(a, AddressWithDates):
        return Address(
            line1=a.line1,
            line2=a.line2 or "",
            town=a.town,
            postcode=a.postcode,
            from_date=a.from_,
            to_date=a.to,
        )
    return Address(line1=a.line1, line2=a.line2 or "", town=a.town, postcode=a.postcode)


def person_from_request(p: rq.Person) -> Person:
    """Map a validated request person onto the contract's Person."""
    return Person(
        title=p.title or "",
        forename=p.forename,
        middle_names=p.middle_names or "",
        surname=p.surname,
        date_of_birth=p.date_of_birth,
        email=p.email or "",
        phone=p.phone or "",
        addresses=tuple(_address(a) for a in p.addresses),
        ip=p.device.ip if p.device else None,
        device_id=p.device.device_id if p.device else None,
    )


def inputs_from_request(req: rq.CheckRequest) -> CheckInputs:
    """Map a validated request onto the stored inputs."""
    return CheckInputs(
        purpose=req.purpose,
        channel=str(req.channel),
        product_code=req.product.code,
        credit_amount=Decimal(str(req.product.credit_amount)),
        term_months=req.product.term_months,
        applicant=person_from_request(req.applicant),
        joint=person_from_request(req.joint_applicant) if req.joint_applicant else None,
        associates=tuple(person_from_request(p) for p in req.financial_associates),
        delivery_address=_address(req.delivery_address) if req.delivery_address else None,
    )


def identity_of(person: Person) -> str:
    """The normalised identity a subject is matched on."""
    return normalise_identity(
        person.forename, person.surname, person.date_of_birth, person.current_address.postcode
    )
