"""The check request: the JSON document a caller submits, and its validation.

The models mirror SPEC.md "Check request (JSON)" field for field, so
``model_dump(by_alias=True, mode="json")`` gives back the caller's document (with postcodes,
phone numbers, IP addresses and money normalised). Rules that depend on the date (age, no
future dates, three years of address history) read ``today`` from the validation context, so
tests and reruns can pin the clock.

Callers should use :func:`parse_check_request` or :func:`load_check_request`: they turn
pydantic's errors into :class:`checks.errors.InvalidRequest`, which lists every problem with a
dotted field path such as ``applicant.addresses.0.postcode``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from checks.crypto import normalise_identity
from checks.emails import is_valid_email
from checks.errors import InvalidRequest, Problem
from checks.names import name_problem, normalise_name

__all__ = [
    "ADDRESS_HISTORY_YEARS",
    "MAX_ADDRESS_GAP_DAYS",
    "MAX_MONEY",
    "MIN_AGE_YEARS",
    "Address",
    "Channel",
    "CheckRequest",
    "DeliveryAddress",
    "Device",
    "Employment",
    "EmploymentStatus",
    "Notify",
    "Person",
    "Product",
    "Purpose",
    "decode_request_bytes",
    "load_check_request",
    "parse_check_request",
]

MIN_AGE_YEARS = 18
ADDRESS_HISTORY_YEARS = 3
# Moving house rarely lines up to the day; a month between tenancies is normal and the
# agencies still match the file across it.
MAX_ADDRESS_GAP_DAYS = 31
MAX_MONEY = Decimal("9999999.99")
# Nobody alive is older than this; an older date of birth is a typo (1095 for 1995).
_MAX_AGE_YEARS = 120

# Control characters (including tab and newline) have no place in names or addresses and
# break the agencies' fixed-width and XML formats.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")

# Royal Mail format with the letters each position can actually hold, so "QA1 1AA" (Q never
# starts a postcode) is caught here rather than as a no-match at the agency.
_OUTWARD = (
    r"[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
)
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"
_POSTCODE = re.compile(rf"(?:GIR ?0AA|{_OUTWARD} ?{_INWARD})")

_PHONE_INTERNATIONAL = re.compile(r"\+[1-9][0-9]{7,14}")  # E.164: at most 15 digits
_PHONE_UK = re.compile(r"0[0-9]{9,10}")
_PHONE_SEPARATORS = re.compile(r"[ ()-]")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]+")
# Dramatiq queue names allow dots and dashes; actor names are Python identifiers in practice.
_ACTOR = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*:[A-Za-z_][A-Za-z0-9_]*")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONEY = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


# --- enumerations -----------------------------------------------------------------------------


class Purpose(StrEnum):
    """Why the check is made; it decides which searches run (see SPEC.md, default plan)."""

    NEW_ORDER = "new_order"
    UPGRADE = "upgrade"
    RENEWAL = "renewal"
    QUOTATION = "quotation"
    IN_LIFE = "in_life"


class Channel(StrEnum):
    """Where the customer is; ``online`` adds a retail fraud-alert search for new orders."""

    ONLINE = "online"
    STORE = "store"
    TELEPHONE = "telephone"
    POST = "post"
    OTHER = "other"


class EmploymentStatus(StrEnum):
    """The applicant's employment status, as the agencies record it."""

    EMPLOYED = "employed"
    SELF_EMPLOYED = "self_employed"
    UNEMPLOYED = "unemployed"
    RETIRED = "retired"
    STUDENT = "student"
    OTHER = "other"


# --- field types ------------------------------------------------------------------------------


def _no_control_chars(value: str) -> str:
    if _CONTROL_CHARS.search(value):
        raise ValueError("must not contain control characters such as tabs or line breaks")
    if _SURROGATES.search(value):
        # JSON's "\ud800" escape decodes to a lone surrogate that cannot be stored as UTF-8.
        raise ValueError("must not contain unpaired surrogate code points")
    return value


def _clean_name(value: str) -> str:
    # Messages name the rule, never the value: a name is personal data.
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    normalised = normalise_name(value).strip()
    if not normalised:
        raise ValueError("must not be empty")
    return normalised


def _parse_money(value: object) -> Decimal:
    # A JSON number goes through a binary float on most callers' side, and 0.1 + 0.2 is not
    # 0.30; only a string says exactly which pennies were meant.
    if not isinstance(value, str | Decimal) or isinstance(value, bool):
        raise ValueError(
            f'must be a decimal string such as "720.00", not a JSON {_json_type(value)}'
        )
    text = str(value).strip()
    if len(text) > 40 or not _MONEY.fullmatch(text):
        raise ValueError('must be a decimal amount such as "720.00"')
    if text.startswith("-"):
        # "-0.00" is numerically zero but says a refund was meant: refuse any minus sign.
        raise ValueError("must not be negative")
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already rules this out
        raise ValueError('must be a decimal amount such as "720.00"') from None
    if "." in text and len(text.split(".", 1)[1]) > 2:
        raise ValueError("must have at most 2 decimal places (whole pence)")
    if amount > MAX_MONEY:
        raise ValueError(f"must be at most {MAX_MONEY}")
    # Quantize so "720" and "720.00" are the same request for idempotency purposes.
    return amount.quantize(Decimal("0.01"))


def _parse_iso_date(value: object) -> date:
    # pydantic's own date parsing also takes Unix timestamps and other forms; the SPEC says
    # dates are ISO, and a number here is far more likely a bug than a timestamp.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO date string (YYYY-MM-DD), not a JSON {_json_type(value)}")
    text = value.strip()
    if not _ISO_DATE.fullmatch(text):
        raise ValueError("must be an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a real date") from None


def _normalise_postcode(value: str) -> str:
    upper = value.upper()
    if not _POSTCODE.fullmatch(upper):
        raise ValueError("is not a valid UK postcode (for example LS1 4AP)")
    compact = upper.replace(" ", "")
    # The inward code is always the last three characters, so one space goes before them.
    return f"{compact[:-3]} {compact[-3:]}"


def _check_email(value: str) -> str:
    # RFC 6531: "siân@example.com" is a valid address (checks.emails).
    if not is_valid_email(value):
        raise ValueError("is not a valid email address")
    return value


def _normalise_phone(value: str) -> str:
    compact = _PHONE_SEPARATORS.sub("", value)
    if not (_PHONE_INTERNATIONAL.fullmatch(compact) or _PHONE_UK.fullmatch(compact)):
        raise ValueError(
            "must be an international number such as +447700900123 or a UK number starting with 0"
        )
    return compact


def _normalise_ip(value: str) -> str:
    try:
        # str() gives the canonical form, so the same IPv6 address written two ways matches
        # the same fraud alerts.
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("is not a valid IPv4 or IPv6 address") from None


def _check_idempotency_key(value: str) -> str:
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise ValueError("may contain only letters, digits and . _ : -")
    return value


def _check_actor(value: str) -> str:
    if not _ACTOR.fullmatch(value):
        raise ValueError('must look like "queue_name:actor_name"')
    return value


def _check_notify_url(value: str) -> str:
    if re.search(r"\s", value):
        raise ValueError("must not contain spaces")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise ValueError("must be an https URL such as https://example.com/hook")
    if scheme == "http":
        # The outcome and its signature must not cross any network in clear text; which
        # addresses may be reached is checked against the configuration at submit.
        raise ValueError("must use https")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs; the POST is signed instead.
        raise ValueError("must not contain a user name or password")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


_CLEAN = AfterValidator(_no_control_chars)
# Lengths are counted after whitespace is stripped (str_strip_whitespace in the model config).
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=60), _CLEAN, AfterValidator(_clean_name)
]
MiddleNames = Annotated[
    str,
    StringConstraints(max_length=60),
    _CLEAN,
    # Middle names may be empty; when given they follow the same rules as the others.
    AfterValidator(lambda v: _clean_name(v) if v else v),
]
Title = Annotated[str, StringConstraints(max_length=20), _CLEAN]
AddressLine = Annotated[str, StringConstraints(min_length=1, max_length=100), _CLEAN]
OptionalAddressLine = Annotated[str, StringConstraints(max_length=100), _CLEAN]
Town = Annotated[str, StringConstraints(min_length=1, max_length=60), _CLEAN]
ProductCode = Annotated[str, StringConstraints(min_length=1, max_length=40), _CLEAN]
RequestedBy = Annotated[str, StringConstraints(min_length=1, max_length=100), _CLEAN]
DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=128), _CLEAN]
Money = Annotated[Decimal, BeforeValidator(_parse_money)]
IsoDate = Annotated[date, BeforeValidator(_parse_iso_date)]
Postcode = Annotated[str, StringConstraints(max_length=10), AfterValidator(_normalise_postcode)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_check_email)]
Phone = Annotated[str, StringConstraints(max_length=30), AfterValidator(_normalise_phone)]
IpAddress = Annotated[str, StringConstraints(max_length=45), AfterValidator(_normalise_ip)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128), AfterValidator(_check_idempotency_key)
]
ActorName = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_actor)]
NotifyUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_check_notify_url)
]


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


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


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
        if age > _MAX_AGE_YEARS:
            raise ValueError(f"is more than {_MAX_AGE_YEARS} years ago; check the year")
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


# --- entry points -----------------------------------------------------------------------------


def parse_check_request(data: object, *, today: date | None = None) -> CheckRequest:
    """Validate a decoded JSON document as a :class:`CheckRequest`.

    ``today`` pins the date that ages, future dates and address history are judged against
    (default: the local date). Raises :class:`InvalidRequest` listing every problem found.
    """
    if not isinstance(data, dict):
        raise InvalidRequest(
            [Problem("$", f"the request must be a JSON object, not a JSON {_json_type(data)}")]
        )
    context = {"today": today if today is not None else date.today()}
    try:
        request = CheckRequest.model_validate(data, context=context)
    except ValidationError as error:
        raise InvalidRequest([_problem(detail) for detail in error.errors()]) from None
    return request


def load_check_request(text: str | bytes, *, today: date | None = None) -> CheckRequest:
    """Parse JSON text and validate it as a :class:`CheckRequest` (see :func:`parse_check_request`).

    Bytes must be UTF-8 (a leading byte order mark is accepted). Text that is not JSON, or
    JSON nested or numbered beyond reason, raises :class:`InvalidRequest` with one problem on
    field ``$`` (naming the line and column where the parser gives them).
    """
    if isinstance(text, bytes):
        text = decode_request_bytes(text)
    # Some editors save UTF-8 with a byte order mark; it is not part of the document.
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise InvalidRequest(
            [
                Problem(
                    "$",
                    f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                )
            ]
        ) from None
    except _DuplicateKey as error:
        raise InvalidRequest([Problem("$", str(error))]) from None
    except RecursionError:
        raise InvalidRequest([Problem("$", "is nested too deeply to be a check request")]) from None
    except ValueError:
        # Python refuses to convert integers of more than 4,300 digits (a denial-of-service
        # guard); no field of a request is anywhere near that.
        raise InvalidRequest([Problem("$", "contains a number too long to be a value")]) from None
    return parse_check_request(data, today=today)


def decode_request_bytes(raw: bytes) -> str:
    """A request file's bytes as text: UTF-8, with or without a byte order mark.

    UTF-16 and UTF-32 (a BOM of their own) and bytes that are not UTF-8 raise
    :class:`InvalidRequest` on field ``$``; JSON exchanged between systems is UTF-8 (RFC 8259).
    """
    # UTF-16 without a BOM is still recognisable: ASCII text with a zero byte beside each char.
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise InvalidRequest([Problem("$", "must be UTF-8 text, not UTF-16 or UTF-32")])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            [Problem("$", f"must be UTF-8 text (invalid byte at offset {error.start})")]
        ) from None


class _DuplicateKey(Exception):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; which one the caller meant is a guess, so
    # refuse rather than check someone with half of a different request.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"is not valid JSON: the key {key!r} appears twice in one object")
        result[key] = value
    return result


_PREFIXES = ("Value error, ", "Assertion failed, ")


def _problem(detail: ErrorDetails) -> Problem:
    """One pydantic error as a :class:`Problem` with a dotted path and a plain message."""
    # loc already uses the JSON names ("from", not "from_") because input is validated by alias.
    field = ".".join(str(part) for part in detail["loc"]) or "$"
    return Problem(field, _message(detail))


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a JSON object, not a JSON {_json_type(detail['input'])}"
    if kind == "list_type":
        return f"must be a JSON array, not a JSON {_json_type(detail['input'])}"
    if kind == "string_type":
        return f"must be a string, not a JSON {_json_type(detail['input'])}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "enum":
        return f"must be one of {ctx.get('expected')}"
    message = detail["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message
