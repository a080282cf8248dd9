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

import json
from datetime import date
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from checks.errors import InvalidRequest, Problem
from checks.request_fields import (
    ADDRESS_HISTORY_YEARS,
    MAX_ADDRESS_GAP_DAYS,
    MAX_MONEY,
    MIN_AGE_YEARS,
    Channel,
    EmploymentStatus,
    Purpose,
    json_type,
)
from checks.request_models import (
    Address,
    CheckRequest,
    DeliveryAddress,
    Device,
    Employment,
    Notify,
    Person,
    Product,
)

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


# --- entry points -----------------------------------------------------------------------------


def parse_check_request(data: object, *, today: date | None = None) -> CheckRequest:
    """Validate a decoded JSON document as a :class:`CheckRequest`.

    ``today`` pins the date that ages, future dates and address history are judged against
    (default: the local date). Raises :class:`InvalidRequest` listing every problem found.
    """
    if not isinstance(data, dict):
        raise InvalidRequest(
            [Problem("$", f"the request must be a JSON object, not a JSON {json_type(data)}")]
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
        return f"must be a JSON object, not a JSON {json_type(detail['input'])}"
    if kind == "list_type":
        return f"must be a JSON array, not a JSON {json_type(detail['input'])}"
    if kind == "string_type":
        return f"must be a string, not a JSON {json_type(detail['input'])}"
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
