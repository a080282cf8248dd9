"""The sandbox: every agency simulated by a respx router built from ``fixtures/``.

Each agency has an :class:`AgencySimulator` (found through :mod:`agencies.simulators`, apart from
its adapter) that speaks its agency's wire format and answers from the persona's recorded
fixture. :class:`Sandbox` mounts them on one router and
adds what tests need: per-agency latency and faults (``CHECKS_SANDBOX_LATENCY_MS``,
``CHECKS_SANDBOX_FAULTS``) and a log of every call each agency received.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import respx

from fixtures import FIXTURES_DIR

#: The most calls the sandbox remembers (oldest forgotten first).
CALL_LOG_LIMIT = 200_000

FAULT_KINDS = ("timeout", "http500", "http503", "http429", "http401", "garbage", "truncated")
PARAM_FAULT_KINDS = ("slow", "flaky")


class SandboxConfigError(ValueError):
    """A latency or fault setting could not be read."""


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` as in SPEC.md, ``arg`` for ``slow:MS`` and ``flaky:N``."""

    kind: str
    arg: int = 0

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.kind in PARAM_FAULT_KINDS else self.kind


def parse_faults(text: str | None) -> dict[str, tuple[Fault, ...]]:
    """Parse ``experian=http503;cifas=timeout`` (several faults for one agency: ``a,b``)."""
    faults: dict[str, tuple[Fault, ...]] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        agency, sep, spec = part.partition("=")
        if not sep or not agency.strip() or not spec.strip():
            raise SandboxConfigError(f"fault {part!r} is not AGENCY=FAULT")
        parsed: list[Fault] = []
        for item in spec.split(","):
            kind, _, arg = item.strip().partition(":")
            if kind in FAULT_KINDS and not arg:
                parsed.append(Fault(kind))
            elif kind in PARAM_FAULT_KINDS and arg.isdigit():
                parsed.append(Fault(kind, int(arg)))
            else:
                known = ", ".join([*FAULT_KINDS, "slow:MS", "flaky:N"])
                raise SandboxConfigError(f"unknown fault {item.strip()!r}; known: {known}")
        faults[agency.strip()] = tuple(parsed)
    return faults


def parse_latency(text: str | None) -> dict[str, int]:
    """Parse ``300`` (every agency) or ``experian=300,cifas=50`` into milliseconds by agency."""
    latency: dict[str, int] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        agency, sep, value = part.rpartition("=")
        if not value.isdigit():
            raise SandboxConfigError(f"latency {part!r} is not MS or AGENCY=MS")
        latency[agency.strip() if sep else "*"] = int(value)
    return latency


@dataclass(frozen=True)
class Persona:
    """A sandbox persona: who they are, their story, and the SPEC outcome for ``new_order``."""

    key: str
    forename: str
    surname: str
    date_of_birth: date
    story: str
    expected: str | None
    flagged: bool = False
    joint_with: str | None = None
    requires: tuple[str, ...] = ()


class FixtureStore:
    """Reads personas and recorded answers from a fixtures folder."""

    def __init__(self, root: Path = FIXTURES_DIR) -> None:
        self.root = root
        raw = json.loads((root / "personas.json").read_text(encoding="utf-8"))
        self.personas: tuple[Persona, ...] = tuple(
            Persona(
                key=p["key"],
                forename=p["forename"],
                surname=p["surname"],
                date_of_birth=date.fromisoformat(p["date_of_birth"]),
                story=p["story"],
                expected=p.get("expected"),
                flagged=bool(p.get("flagged", False)),
                joint_with=p.get("joint_with"),
                requires=tuple(p.get("requires", ())),
            )
            for p in raw
        )
        self._by_identity = {(p.surname.casefold(), p.date_of_birth): p for p in self.personas}

    def persona(self, key: str) -> Persona:
        """The persona with that key."""
        for p in self.personas:
            if p.key == key:
                return p
        raise KeyError(f"no persona {key!r}")

    def match(self, surname: str, date_of_birth: date | str | None) -> Persona | None:
        """The persona with this surname and date of birth, or None (a clean default file)."""
        if date_of_birth is None:
            return None
        if isinstance(date_of_birth, str):
            try:
                date_of_birth = date.fromisoformat(date_of_birth[:10])
            except ValueError:
                return None
        return self._by_identity.get((surname.strip().casefold(), date_of_birth))

    def read(self, agency: str, persona: Persona | None, suffix: str = ".json") -> str:
        """The recorded answer for this persona at this agency (``default`` if it has none)."""
        folder = self.root / agency
        if persona is not None:
            path = folder / f"{persona.key}{suffix}"
            if path.exists():
                return path.read_text(encoding="utf-8")
        return (folder / f"default{suffix}").read_text(encoding="utf-8")

    def notice_answer(self, agency: str, people: tuple[Persona | None, Persona | None]) -> str:
        """How this CRA first answers a notice of disassociation between two people.

        ``fixtures/<agency>/disassociation.json`` lists persona pairs: ``joint_accounts_open``
        (refused: the CRA keeps the link while a joint account is open) and ``confirm_later``
        (pending); any other pair is accepted.
        """
        path = self.root / agency / "disassociation.json"
        rules = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        keys = {p.key for p in people if p is not None}
        for answer, rule in (("refused", "joint_accounts_open"), ("pending", "confirm_later")):
            if any(set(listed) == keys for listed in rules.get(rule, ())):
                return answer
        return "accepted"


@cache
def default_fixtures() -> FixtureStore:
    """The fixtures shipped with the package, read once."""
    return FixtureStore()


@dataclass(frozen=True)
class RecordedCall:
    """One call an agency received, as the agency saw it."""

    agency: str
    operation: str  # "token", "search", "file"
    client_ref: str = ""
    search_type: str = ""
    persona: str = ""
    status: int = 0
    fault: str = ""
    #: A notice of disassociation's answer (accepted, refused, pending).
    answer: str = ""


Handler = Callable[[httpx.Request, "SimulatorContext"], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class SimRoute:
    """One endpoint of a simulated agency. Faults and latency apply to search and file calls."""

    method: str
    path: str
    operation: str
    handler: Handler


class SimulatorContext:
    """What a simulator may use while answering: fixtures, and the agency-side search log."""

    def __init__(self, sandbox: Sandbox, agency: str) -> None:
        self.sandbox = sandbox
        self.agency = agency
        self.fixtures = sandbox.fixtures

    def record_search(self, client_ref: str, search_type: str, persona: Persona | None) -> bool:
        """Log a search; return True if it is new (a repeated client reference is not)."""
        return self.sandbox._record_search(self.agency, client_ref, search_type, persona)

    def record(self, call: RecordedCall) -> None:
        """Log any other call."""
        self.sandbox._record(call)

    def record_notice(self, client_ref: str, people: tuple[Persona | None, Persona | None]) -> str:
        """Log a notice of disassociation and return this CRA's answer to it.

        A repeated client reference is the same notice, never recorded twice: it gets the
        answer already given, except that a pending one has been confirmed (accepted) since.
        """
        return self.sandbox._record_notice(self.agency, client_ref, people)


class AgencySimulator(ABC):
    """Speaks one agency's wire format over a respx router, answering from fixtures."""

    #: Agency name, as in the registry.
    agency: str
    #: Content type of the agency's answers, used for injected error answers.
    content_type: str = "application/json"

    @abstractmethod
    def routes(self) -> list[SimRoute]:
        """The endpoints this agency serves, relative to its base URL."""

    def error_body(self, status: int) -> bytes:
        """The agency's own error envelope for an injected HTTP error."""
        return json.dumps({"status": status, "message": "sandbox fault"}).encode()

    def reply(
        self, status: int, body: bytes, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """An answer in the agency's content type (plus ``headers``)."""
        return httpx.Response(
            status, headers={"content-type": self.content_type, **(headers or {})}, content=body
        )

    def stable_reference(self, reference: str, digits: int) -> str:
        """``digits`` digits that are the same for every search with ``reference``, so a
        repeated search gets the agency reference it got the first time."""
        hashed = int(hashlib.sha256(f"{self.agency}:{reference}".encode()).hexdigest(), 16)
        return f"{hashed % 10**digits:0{digits}d}"


def required_text(body: Any, key: str, error: Callable[[str], Exception] = ValueError) -> str:
    """``body[key]`` if it is non-blank text; else raise ``error`` (a simulator's "invalid")."""
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        raise error(f"{key} is required")
    return value


class Sandbox:
    """A respx router serving every simulated agency, with latency, faults and a call log.

    Use :meth:`transport` as the transport of an ``httpx.AsyncClient``; nothing leaves the
    process. The call log (:attr:`calls`) and :meth:`footprints` let tests assert on what each
    agency received, e.g. that a retry reused its client reference.
    """

    def __init__(
        self,
        simulators: Mapping[str, tuple[str, AgencySimulator]],
        *,
        fixtures: FixtureStore | None = None,
        latency_ms: Mapping[str, int] | None = None,
        faults: Mapping[str, Iterable[Fault]] | None = None,
    ) -> None:
        """``simulators`` maps an agency name to (base URL, simulator)."""
        self.fixtures = fixtures or default_fixtures()
        self.latency_ms: dict[str, int] = dict(latency_ms or {})
        self.faults: dict[str, tuple[Fault, ...]] = {k: tuple(v) for k, v in (faults or {}).items()}
        # Bounded, so a long-running sandbox server does not grow without end.
        self.calls: deque[RecordedCall] = deque(maxlen=CALL_LOG_LIMIT)
        # Per agency: client reference -> search type, in the order first searched.
        self._searches: dict[str, dict[str, str]] = {}
        self._notices: dict[str, dict[str, str]] = {}
        self._flaky_calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self.base_urls: dict[str, str] = {}
        for agency, (base_url, simulator) in simulators.items():
            self.base_urls[agency] = base_url.rstrip("/")
            context = SimulatorContext(self, agency)
            for route in simulator.routes():
                self.router.route(
                    method=route.method, url=self.base_urls[agency] + route.path
                ).mock(side_effect=self._wrap(agency, simulator, route, context))

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport answering from this sandbox."""
        return httpx.MockTransport(self.router.async_handler)

    # -- configuration -----------------------------------------------------------------

    def set_faults(self, faults: Mapping[str, Iterable[Fault]] | str | None) -> None:
        """Replace the injected faults (a mapping or the ``CHECKS_SANDBOX_FAULTS`` syntax)."""
        parsed = parse_faults(faults) if isinstance(faults, str) or faults is None else faults
        with self._lock:
            self.faults = {k: tuple(v) for k, v in parsed.items()}
            self._flaky_calls.clear()

    def set_latency(self, latency_ms: Mapping[str, int] | str | None) -> None:
        """Replace the added latency (a mapping or the ``CHECKS_SANDBOX_LATENCY_MS`` syntax)."""
        parsed = (
            parse_latency(latency_ms)
            if isinstance(latency_ms, str) or latency_ms is None
            else latency_ms
        )
        self.latency_ms = dict(parsed)

    # -- what the agencies saw -----------------------------------------------------------

    def calls_to(self, agency: str, operation: str | None = None) -> list[RecordedCall]:
        """Calls one agency received, optionally only one operation."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.agency == agency and (operation is None or c.operation == operation)
            ]

    def footprints(self, agency: str) -> set[str]:
        """Client references of the distinct searches the agency recorded."""
        with self._lock:
            return set(self._searches.get(agency, {}))

    def searches(self) -> dict[str, dict[str, str]]:
        """Every distinct search each agency recorded: agency -> client reference -> type.

        The agency's side of a ledger audit (``checks.ledger.audit``): a repeat under the same
        client reference is the same search, as a real agency recognises it.
        """
        with self._lock:
            return {agency: dict(refs) for agency, refs in self._searches.items()}

    def notices(self, agency: str) -> dict[str, str]:
        """The distinct notices of disassociation the CRA recorded: client reference -> answer."""
        with self._lock:
            return dict(self._notices.get(agency, {}))

    def reset_log(self) -> None:
        """Forget every call, search and notice (between tests)."""
        with self._lock:
            self.calls.clear()
            self._searches.clear()
            self._notices.clear()
            self._flaky_calls.clear()

    def _record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _record_search(
        self, agency: str, client_ref: str, search_type: str, persona: Persona | None
    ) -> bool:
        with self._lock:
            seen = self._searches.setdefault(agency, {})
            new = client_ref not in seen
            seen.setdefault(client_ref, search_type)
            self.calls.append(
                RecordedCall(
                    agency, "search", client_ref, search_type, persona.key if persona else ""
                )
            )
            return new

    def _record_notice(
        self, agency: str, client_ref: str, people: tuple[Persona | None, Persona | None]
    ) -> str:
        with self._lock:
            seen = self._notices.setdefault(agency, {})
            before = seen.get(client_ref)
            if before is None:
                answer = self.fixtures.notice_answer(agency, people)
            else:
                answer = "accepted" if before == "pending" else before
            seen[client_ref] = answer
            who = "+".join(sorted(p.key for p in people if p is not None))
            self.calls.append(
                RecordedCall(agency, "notice", client_ref, persona=who, answer=answer)
            )
            return answer

    # -- fault injection -----------------------------------------------------------------

    def _wrap(
        self,
        agency: str,
        simulator: AgencySimulator,
        route: SimRoute,
        context: SimulatorContext,
    ) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
        async def side_effect(request: httpx.Request) -> httpx.Response:
            latency = self.latency_ms.get(agency, self.latency_ms.get("*", 0))
            if latency:
                await asyncio.sleep(latency / 1000)
            if route.operation == "token":
                faults: tuple[Fault, ...] = ()
            else:
                with self._lock:
                    faults = self.faults.get(agency, self.faults.get("*", ()))
            return await self._answer(agency, simulator, route, context, request, faults)

        return side_effect

    async def _answer(
        self,
        agency: str,
        simulator: AgencySimulator,
        route: SimRoute,
        context: SimulatorContext,
        request: httpx.Request,
        faults: tuple[Fault, ...],
    ) -> httpx.Response:
        for fault in faults:
            if fault.kind == "slow":
                await asyncio.sleep(fault.arg / 1000)
            elif fault.kind == "flaky":
                with self._lock:
                    seen = self._flaky_calls.get(agency, 0)
                    self._flaky_calls[agency] = seen + 1
                if seen < fault.arg:
                    return self._injected(agency, simulator, route, 503, str(fault))
            elif fault.kind.startswith("http"):
                return self._injected(agency, simulator, route, int(fault.kind[4:]), fault.kind)
        response = await route.handler(request, context)
        for fault in faults:
            if fault.kind == "timeout":
                # The agency did the work; only the answer is lost, so the outcome is unknown.
                self._record(RecordedCall(agency, "answer_lost", fault="timeout"))
                raise httpx.ReadTimeout("sandbox fault: timeout", request=request)
            if fault.kind == "garbage":
                return httpx.Response(
                    200,
                    headers={"content-type": simulator.content_type},
                    content=b"<<sandbox: this is not the agency's format>> \x00\x01",
                )
            if fault.kind == "truncated":
                body = response.content
                return httpx.Response(
                    response.status_code,
                    headers={"content-type": response.headers.get("content-type", "")},
                    content=body[: max(1, len(body) // 2)],
                )
        return response

    def _injected(
        self, agency: str, simulator: AgencySimulator, route: SimRoute, status: int, fault: str
    ) -> httpx.Response:
        self._record(RecordedCall(agency, route.operation, status=status, fault=fault))
        headers = {"content-type": simulator.content_type}
        if status == 429:
            headers["retry-after"] = "1"
        return httpx.Response(status, headers=headers, content=simulator.error_body(status))
