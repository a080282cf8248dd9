"""Pieces every adapter's wire format needs, written once: address lines, score bands, tokens.

Each agency names the parts differently on the wire, but splits an address, bands a score and
reads an OAuth token answer the same way; adapters map these shared results to their fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from agencies.contract import (
    IN_LIFE,
    Address,
    NoticeAnswer,
    ScoreBand,
    SearchRequest,
    SearchType,
)
from agencies.http import HttpPolicy
from agencies.parsing import BadShape

# "10 High Street", "10a High Street", "10-12 High Street", "10, High Street".
_NUMBERED_LINE = re.compile(r"^(\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?),?\s+(\S.*)$")


@dataclass(frozen=True)
class AddressParts:
    """An address's first two lines as house number, house name, street and what follows."""

    number: str = ""
    name: str = ""
    street: str = ""
    #: The second line when the street came from the first (a locality or second street).
    rest: str = ""


def split_address(address: Address) -> AddressParts:
    """Split a leading house number from its street; a first line without one is a house name.

    "10 High Street" / "Headingley" is number 10, street High Street, rest Headingley;
    "Rose Cottage" / "4 Mill Lane" is name Rose Cottage, number 4, street Mill Lane;
    "Flat 2, Mill House" / "Mill Lane" is a name followed by the street.
    """
    line1, line2 = address.line1.strip(), address.line2.strip()
    numbered = _NUMBERED_LINE.match(line1)
    if numbered:
        return AddressParts(number=numbered.group(1), street=numbered.group(2), rest=line2)
    numbered = _NUMBERED_LINE.match(line2)
    if numbered:
        return AddressParts(number=numbered.group(1), name=line1, street=numbered.group(2))
    return AddressParts(name=line1, street=line2)


def present_parts(
    address: Address, *, name: str, number: str, street: str, rest: str
) -> dict[str, str]:
    """The address's :func:`split_address` parts under the agency's own keys, in that order,
    leaving out a part the address does not have rather than sending it empty."""
    parts = split_address(address)
    keyed = {name: parts.name, number: parts.number, street: parts.street, rest: parts.rest}
    return {key: value for key, value in keyed.items() if value}


def score_bands(
    excellent: int, good: int, fair: int, poor: int
) -> tuple[tuple[int, ScoreBand], ...]:
    """An agency's band table from the lowest score of each band (below ``poor``: very poor)."""
    return (
        (excellent, ScoreBand.EXCELLENT),
        (good, ScoreBand.GOOD),
        (fair, ScoreBand.FAIR),
        (poor, ScoreBand.POOR),
        (0, ScoreBand.VERY_POOR),
    )


def notice_answer(value: str, where: str) -> NoticeAnswer:
    """A CRA's answer to a notice of disassociation; anything else is not a usable answer."""
    try:
        return NoticeAnswer(value)
    except ValueError:
        raise BadShape(f"{where} {value!r} is not a notice answer") from None


def credit_purpose(request: SearchRequest, *, hard: str, quotation: str, in_life: str) -> str:
    """A CRA's code for a credit search: ``hard`` for an application search; for a soft one
    ``in_life`` on a customer's existing account, else ``quotation``.

    Raises ``ValueError`` for a search type a CRA does not run (a fraud search).
    """
    if request.search_type is SearchType.HARD:
        return hard
    if request.search_type is SearchType.SOFT:
        return in_life if request.purpose == IN_LIFE else quotation
    raise ValueError(f"a CRA runs hard or soft searches, not {request.search_type.value}")


def band_for(score: int, bands: Sequence[tuple[int, ScoreBand]]) -> ScoreBand:
    """The band of ``score`` given each band's lowest score, best band first."""
    for lowest, band in bands:
        if score >= lowest:
            return band
    return ScoreBand.VERY_POOR


def parse_bearer_token(response: httpx.Response) -> tuple[str, float]:
    """Read ``access_token`` and ``expires_in`` (seconds, a number or a numeric string).

    The lifetime counts from receipt: an ``issued_at`` is the agency's clock, not ours.
    Raises ``ValueError`` if the answer is not usable; the auth flow turns that into
    :class:`~agencies.errors.UnusableResponse`.
    """
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("token answer is not a JSON object")
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ValueError("token answer has no access_token")
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ValueError(f"token answer is of type {token_type!r}, not Bearer")
    raw = data.get("expires_in")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("token answer has no expires_in")
    lifetime = float(raw)
    if not lifetime > 0:
        raise ValueError("token answer has no positive expires_in")
    return token, lifetime


def token_request(
    policy: HttpPolicy, url: str, *, headers: Mapping[str, str], **content: Any
) -> Callable[[], httpx.Request]:
    """A maker of the agency's ``POST`` token request (``content``: ``json=`` or ``data=``).

    Built outside the agency's client, so the token call carries the policy's own timeouts.
    """
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)

    def build() -> httpx.Request:
        return httpx.Request(
            "POST", url, headers=dict(headers), extensions={"timeout": timeout.as_dict()}, **content
        )

    return build
