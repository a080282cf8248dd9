"""Recording fixtures from an agency's test environment, with personal data replaced.

Point a live-mode adapter at a base URL, search for one of the agency's test identities, and
write the answer into ``fixtures/<agency>/<persona>.<ext>`` with every personal value of the
test identity (names, date of birth, postcodes, address lines, email, phone, IP) replaced by
the persona's synthetic values. The answer must parse through the adapter before it is written,
and the written file is checked to contain none of the identity's values.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx

from agencies.config import build_adapter
from agencies.contract import AgencyKind, Person, SearchRequest, SearchType
from agencies.registry import load_adapter
from agencies.sandbox import Persona


class RecordingError(RuntimeError):
    """The answer could not be recorded safely; the message says why."""


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests through and keeps every answer's body."""

    inner: httpx.AsyncBaseTransport
    answers: list[tuple[httpx.Request, httpx.Response]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, read the whole answer, keep it."""
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        kept = httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )
        self.answers.append((request, kept))
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )


def _date_forms(d: object) -> list[str]:
    from datetime import date

    assert isinstance(d, date)
    return [
        d.isoformat(),
        d.strftime("%d/%m/%Y"),
        d.strftime("%d%m%Y"),
        d.strftime("%Y%m%d"),
        d.strftime("%d-%m-%Y"),
    ]


def replacements(identity: Person, persona: Persona) -> list[tuple[str, str]]:
    """Pairs (identity value, persona value), longest first so parts do not clash."""
    pairs: list[tuple[str, str]] = [
        (identity.forename, persona.forename),
        (identity.surname, persona.surname),
    ]
    if identity.middle_names:
        pairs.append((identity.middle_names, ""))
    pairs += list(
        zip(_date_forms(identity.date_of_birth), _date_forms(persona.date_of_birth), strict=True)
    )
    for i, a in enumerate(identity.addresses):
        pairs += [(a.line1, f"{i + 1} Sample Street"), (a.town, "Sampletown")]
        # Agencies often answer with the house number split from the street name.
        number, _, street = a.line1.partition(" ")
        if number[:1].isdigit() and street:
            pairs.append((street, "Sample Street"))
        if a.line2:
            pairs.append((a.line2, ""))
        pairs += [(a.postcode, "ZZ1 1ZZ"), (a.postcode.replace(" ", ""), "ZZ11ZZ")]
    if identity.email:
        pairs.append((identity.email, f"{persona.forename.lower()}@example.com"))
    if identity.phone:
        pairs.append((identity.phone, "+447700900000"))
    if identity.ip:
        pairs.append((identity.ip, "203.0.113.1"))
    return sorted({p for p in pairs if p[0]}, key=lambda p: -len(p[0]))


def scrub(text: str, pairs: list[tuple[str, str]]) -> str:
    """Replace each identity value, whatever its case, keeping upper case where it was."""
    for old, new in pairs:

        def swap(m: re.Match[str], new: str = new) -> str:
            return new.upper() if m.group(0).isupper() else new

        text = re.sub(re.escape(old), swap, text, flags=re.IGNORECASE)
    return text


async def record(
    agency: str,
    base_url: str,
    credentials: Mapping[str, str],
    identity: Person,
    persona: Persona,
    out_dir: Path,
    *,
    search_type: SearchType | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Path:
    """Search the agency for ``identity``; write the scrubbed answer as ``persona``'s fixture."""
    cls = load_adapter(agency)
    recorder = RecordingTransport(transport or httpx.AsyncHTTPTransport(retries=0))
    adapter = build_adapter(cls, base_url, recorder, credentials)
    kind = search_type or (SearchType.HARD if cls.kind is AgencyKind.CRA else SearchType.FRAUD)
    request = SearchRequest(
        client_ref=uuid.uuid4().hex,
        search_type=kind,
        purpose="new_order",
        person=identity,
        product_code="MOBILE-24M",
        credit_amount=Decimal("720.00"),
        term_months=24,
        channel="online",
    )
    try:
        await adapter.search(request)  # the answer must be one the adapter can read
    finally:
        await adapter.client.http.aclose()
    answers = [(q, r) for q, r in recorder.answers if "token" not in q.url.path]
    if not answers:
        raise RecordingError(f"{agency} gave no search answer to record")
    response = answers[-1][1]
    content_type = response.headers.get("content-type", "")
    suffix = ".xml" if "xml" in content_type else ".json"
    text = scrub(response.content.decode("utf-8"), replacements(identity, persona))
    if suffix == ".json":
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    leaks = [
        old
        for old, _ in replacements(identity, persona)
        if len(old) > 2 and old.casefold() in text.casefold()
    ]
    if leaks:
        raise RecordingError(f"personal data still present after scrubbing ({len(leaks)} values)")
    path = out_dir / agency / f"{persona.key}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def record_sync(*args: object, **kwargs: object) -> Path:
    """:func:`record` for synchronous callers (the command line)."""
    return asyncio.run(record(*args, **kwargs))  # type: ignore[arg-type]
