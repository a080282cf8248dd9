"""The check request's models: people, addresses, product and notify, and the whole request.

Rules that span fields live here: an adult applicant, three years of address history without
gaps, no future dates, two different people on a joint application. Rules that depend on the
date read ``today`` from the validation context, so tests and reruns can pin the clock.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from checks.crypto import normalise_identity
from checks.request_fields import (
    ADDRESS_HISTORY_YEARS,
    MAX_ADDRESS_GAP_DAYS,
    MAX_AGE_YEARS,
    MIN_AGE_YEARS,
    ActorName,
    AddressLine,
    Channel,
    DeviceId,
    Email,
    EmploymentStatus,
    IdempotencyKey,
    IpAddress,
    IsoDate,
    MiddleNames,
    Money,
    Name,
    NotifyUrl,
    OptionalAddressLine,
    Phone,
    Postcode,
    ProductCode,
    Purpose,
    RequestedBy,
    Title,
    Town,
)

# --- helpers for date rules -------------------------------------------------------------------


def _today(info: ValidationInfo) -> date:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("today"), date):
        today: date = context["today"]
        return today
    return date.today()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _age_on(birth: date, today: date) -> int:
    # Someone born on 29 February turns a year older on 1 March in common years.
    before_birthday = (today.month, today.day) < (birth.month, birth.day)
    return today.year - birth.year - int(before_birthday)


def _history_error(path: tuple[int | str, ...], message: str, value: object) -> InitErrorDetails:
    # The message goes in as context, not as the template, so braces in it are harmless.
    return InitErrorDetails(
        type=PydanticCustomError("address_history", "{message}", {"message": message}),
        loc=path,
        input=value,
    )


# --- models -----------------------------------------------------------------------------------


class _RequestModel(BaseModel):
    # Frozen because a validated request is evidence of what was asked; extra="forbid" because
    # a misspelt optional field (e.g. "joint_aplicant") silently ignored would change the check.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Address(_RequestModel):
    """A UK address and the dates the person lived there; ``to`` is None for the current one."""

    line1: AddressLine
    line2: OptionalAddressLine = ""
    town: Town
    postcode: Postcode
    from_: IsoDate = Field(alias="from")
    to: IsoDate | None = Field(default=None, alias="to")

    @field_validator("from_")
    @classmethod
    def _from_not_in_future(cls, value: date, info: ValidationInfo) -> date:
        if value > _today(info):
            raise ValueError(f"must not be in the future (today is {_today(info)})")
        return value

    @field_validator("to")
    @classmethod
    def _to_not_in_future_nor_before_from(
        cls, value: date | None, info: ValidationInfo
    ) -> date | None:
        if value is None:
            return value
        if value > _today(info):
            raise ValueError(f"must not be in the future (today is {_today(info)})")
        moved_in = info.data.get("from_")  # absent when "from" itself was invalid
        if isinstance(moved_in, date) and value < moved_in:
            raise ValueError(f"must not be before from ({moved_in})")
        return value


class DeliveryAddress(_RequestModel):
    """Where goods are sent, when not to the applicant's current address (no dates)."""

    line1: AddressLine
    line2: OptionalAddressLine = ""
    town: Town
    postcode: Postcode


class Employment(_RequestModel):
    """The applicant's employment status and gross annual income in pounds."""

    status: EmploymentStatus
    annual_income: Money


class Device(_RequestModel):
    """The customer's device, for retail fraud-alert searches on online orders."""

    ip: IpAddress | None = None
    device_id: DeviceId | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Callers send only the identifiers they have (SPEC: {"ip": ...}); echoing the others
        # back as null would make the dump differ from what was submitted.
        dumped: dict[str, Any] = handler(self)
        return {key: value for key, value in dumped.items() if value is not None}


class Person(_RequestModel):
    """An applicant, joint applicant or financial associate."""

    title: Title
    forename: Name
    middle_names: MiddleNames = ""
    surname: Name
    date_of_birth: IsoDate
    email: Email
    phone: Phone
    # 20 addresses cover any real three-year history; the cap keeps a hostile body small.
    addresses: list[Address] = Field(max_length=20)
    employment: Employment | None = None
    device: Device | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _adult(cls, value: date, info: ValidationInfo) -> date:
        today = _today(info)
        if value > today:
            raise ValueError(f"must not be in the future (today is {today})")
        age = _age_on(value, today)
        if age < MIN_AGE_YEARS:
            raise ValueError(f"the person must be {MIN_AGE_YEARS} or over on {today}")
        if age > MAX_AGE_YEARS:
            raise ValueError(f"is more than {MAX_AGE_YEARS} years ago; check the year")
        return value

    @field_validator("addresses")
    @classmethod
    def _history(cls, addresses: list[Address], info: ValidationInfo) -> list[Address]:
        if not addresses:
            raise ValueError("must list at least the current address")
        errors: list[InitErrorDetails] = []
        if addresses[0].to is not None:
            errors.append(
                _history_error(
                    (0, "to"),
                    "must be null: the first address is the current one",
                    addresses[0].to.isoformat(),
                )
            )
        errors.extend(
            _history_error(
                (index, "to"),
                "is required: only the first (current) address may have no end date",
                None,
            )
            for index, address in enumerate(addresses[1:], start=1)
            if address.to is None
        )
        if errors:
            # Raising a ValidationError here merges these problems under this field's path,
            # so each one points at the address it is about.
            raise ValidationError.from_exception_data("Person", errors)
        _check_coverage(addresses, _today(info))
        return addresses


def _check_coverage(addresses: list[Address], today: date) -> None:
    """Raise unless the addresses cover the required years back from ``today``."""
    needed_from = _years_before(today, ADDRESS_HISTORY_YEARS)
    covered_from = addresses[0].from_
    gap_note = ""
    # Walk back from the current address through the earlier ones, latest end date first;
    # overlaps are fine (people keep keys for a while), long gaps end the covered stretch.
    for earlier in sorted(addresses[1:], key=lambda a: a.to or a.from_, reverse=True):
        if covered_from <= needed_from:
            break
        assert earlier.to is not None  # checked by the caller
        gap_days = (covered_from - earlier.to - timedelta(days=1)).days
        if gap_days > MAX_ADDRESS_GAP_DAYS:
            gap_note = (
                # The count, not the dates: a person's moving dates are personal data.
                f" (a gap of {gap_days} days between two addresses "
                f"is more than the {MAX_ADDRESS_GAP_DAYS} allowed)"
            )
            break
        covered_from = min(covered_from, earlier.from_)
    if covered_from > needed_from:
        raise ValueError(
            f"must cover at least {ADDRESS_HISTORY_YEARS} years, back to {needed_from}{gap_note}"
        )


class Product(_RequestModel):
    """What the customer is being given credit for."""

    code: ProductCode
    credit_amount: Money
    # strict: 24.0 or "24" from a caller is a bug worth hearing about, not something to round.
    term_months: int = Field(strict=True, ge=1, le=120)


class Notify(_RequestModel):
    """Where to send the outcome: a Dramatiq actor or a URL (exactly one of them)."""

    actor: ActorName | None = None
    url: NotifyUrl | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.actor is None) == (self.url is None):
            raise ValueError('must give exactly one of "actor" ("queue_name:actor_name") or "url"')
        return self


class CheckRequest(_RequestModel):
    """A request for a credit and fraud check, as submitted by a caller (SPEC.md)."""

    idempotency_key: IdempotencyKey
    purpose: Purpose
    channel: Channel
    product: Product
    applicant: Person
    joint_applicant: Person | None = None
    financial_associates: list[Person] = Field(default_factory=list, max_length=10)
    delivery_address: DeliveryAddress | None = None
    requested_by: RequestedBy
    notify: Notify | None = None

    @model_validator(mode="after")
    def _different_people(self) -> Self:
        # A "joint" application by one person would search them twice (two footprints) and
        # link them to themselves; nobody is financially associated with themselves either.
        others: list[tuple[tuple[str | int, ...], Person]] = [
            (("financial_associates", i), p) for i, p in enumerate(self.financial_associates)
        ]
        if self.joint_applicant is not None:
            others.insert(0, (("joint_applicant",), self.joint_applicant))
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "same_person",
                    "must be a different person from the applicant (same name and date of birth)",
                ),
                loc=loc,
                input=None,
            )
            for loc, person in others
            if _same_person(self.applicant, person)
        ]
        if errors:
            raise ValidationError.from_exception_data("CheckRequest", errors)
        return self

    def canonical_json(self) -> str:
        """The request as compact JSON with sorted keys.

        Two submissions with the same idempotency key are the same request exactly when their
        canonical JSON is equal; normalisation (postcode case, "720" vs "720.00", spacing in
        phone numbers) has already been applied, so cosmetic differences do not conflict.
        """
        return json.dumps(
            self.model_dump(by_alias=True, mode="json"),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


def _same_person(a: Person, b: Person) -> bool:
    """Same normalised forename, surname and date of birth (wherever each lives)."""
    return normalise_identity(a.forename, a.surname, a.date_of_birth, "") == normalise_identity(
        b.forename, b.surname, b.date_of_birth, ""
    )
