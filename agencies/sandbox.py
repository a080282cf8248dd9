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
from abc import ABC
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import respx

from agencies.faults import FAULT_KINDS as FAULT_KINDS
from agencies.faults import PARAM_FAULT_KINDS as PARAM_FAULT_KINDS
from agencies.faults import Fault as Fault
from agencies.faults import SandboxConfigError as SandboxConfigError
from agencies.faults import parse_faults as parse_faults
from agencies.faults import parse_latency as parse_latency
from agencies.fixture_store import FixtureStore as FixtureStore
from agencies.fixture_store import Persona as Persona
from agencies.fixture_store import default_fixtures as default_fixtures

#: The most calls the sandbox remembers (oldest forgotten first).
CALL_LOG_LIMIT = 200_000


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
_Method = TypeVar("_Method", bound=Callable[..., Awaitable[httpx.Response]])
_ROUTE = "_sandbox_route"
_Read = TypeVar("_Read")

#: A simulator's reader of a request: what the request asks for, or one of :data:`UNREADABLE`.
Reader = Callable[[httpx.Request], _Read]

#: What a simulator's reader raises for a request body it cannot read (answered with a 400).
UNREADABLE = (ValueError, KeyError, TypeError, IndexError, StopIteration)


def route(path: str, operation: str, method: str = "POST") -> Callable[[_Method], _Method]:
    """Mark a simulator's method as the handler of ``method path``; ``operation`` names the
    call in the log. :meth:`AgencySimulator.routes` serves every method so marked."""

    def mark(handler: _Method) -> _Method:
        setattr(handler, _ROUTE, (method, path, operation))
        return handler

    return mark


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

    def routes(self) -> list[SimRoute]:
        """The endpoints this agency serves, relative to its base URL: its methods marked
        with :func:`route`, in the order the class defines them."""
        marked = {
            name: getattr(attr, _ROUTE)
            for cls in reversed(type(self).__mro__)
            for name, attr in vars(cls).items()
            if hasattr(attr, _ROUTE)
        }
        if not marked:
            raise TypeError(f"{type(self).__name__} marks no handler with @route")
        return [
            SimRoute(method, path, operation, getattr(self, name))
            for name, (method, path, operation) in marked.items()
        ]

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

    def refuse(
        self,
        ctx: SimulatorContext,
        operation: str,
        status: int,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Log a refused call and answer it: ``body``, or the agency's own error envelope."""
        ctx.record(RecordedCall(self.agency, operation, status=status))
        return self.reply(status, self.error_body(status) if body is None else body, headers)

    def read_or_refuse(
        self,
        ctx: SimulatorContext,
        operation: str,
        request: httpx.Request,
        read: Reader[_Read],
        *,
        authorised: bool,
    ) -> _Read | httpx.Response:
        """What ``read`` makes of a request, or the logged refusal to answer it: 401 unless
        the caller is ``authorised``, 400 if ``read`` cannot read it (:data:`UNREADABLE`)."""
        if not authorised:
            return self.refuse(ctx, operation, 401)
        try:
            return read(request)
        except UNREADABLE:
            return self.refuse(ctx, operation, 400)

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
        #: Each endpoint's handler by (method, URL without its query): the router's routes.
        self._handlers: dict[tuple[str, str], Callable[[httpx.Request], Awaitable[httpx.Response]]]
        self._handlers = {}
        for agency, (base_url, simulator) in simulators.items():
            self.base_urls[agency] = base_url.rstrip("/")
            context = SimulatorContext(self, agency)
            for route in simulator.routes():
                url = self.base_urls[agency] + route.path
                handler = self._wrap(agency, simulator, route, context)
                self._handlers[(route.method, url)] = handler
                self.router.route(method=route.method, url=url).mock(side_effect=handler)

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport answering from this sandbox."""
        return httpx.MockTransport(self.router.async_handler)

    def handler(
        self, method: str, url: str
    ) -> Callable[[httpx.Request], Awaitable[httpx.Response]] | None:
        """The handler the router would give a request for ``method url`` (no query), or None.

        For the HTTP server (:mod:`agencies.sandbox_server`), which knows the URL already: one
        dict lookup, where the router matches every route's patterns and keeps every call
        (about a tenth of the server's CPU per answer, and memory that grows with each call).
        """
        return self._handlers.get((method, url))

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
