"""The check request's field types: enumerations, limits, and the rules of each single field.

Each rule is a pydantic type (``Annotated`` with its validator) that normalises what it accepts
(postcode case, phone separators, money as exact pennies) and says what is wrong with what it
refuses, naming the rule, never the value: a name or an address is personal data. The models
that combine these fields are in :mod:`checks.request_models`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, StringConstraints

from checks.emails import is_valid_email
from checks.names import name_problem, normalise_name

MIN_AGE_YEARS = 18
ADDRESS_HISTORY_YEARS = 3
# Moving house rarely lines up to the day; a month between tenancies is normal and the
# agencies still match the file across it.
MAX_ADDRESS_GAP_DAYS = 31
MAX_MONEY = Decimal("9999999.99")
# Nobody alive is older than this; an older date of birth is a typo (1095 for 1995).
MAX_AGE_YEARS = 120

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
            f'must be a decimal string such as "720.00", not a JSON {json_type(value)}'
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
        raise ValueError(f"must be an ISO date string (YYYY-MM-DD), not a JSON {json_type(value)}")
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


def json_type(value: object) -> str:
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
