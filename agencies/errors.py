"""The one error tree every agency adapter raises.

::

    AgencyError                    base: ``agency`` and a stable ``code`` for reasons
    ├── TransientAgencyError       try again later (timeouts, 5xx, 429, connection errors)
    │   └── CircuitOpen            the agency's breaker is open; nothing was sent
    ├── PermanentAgencyError       the agency refused the request (4xx other than 408/429)
    │   └── AuthenticationFailed   credentials rejected, even after one token refresh
    └── UnusableResponse           an answer arrived but is not the agency's format

``sent`` says whether the request may have reached the agency. A step whose outcome is unknown
(``sent`` is true and no usable answer came back) is retried with the same client reference;
one that was certainly never searched (``sent`` false) may fall back to another agency.
"""

from __future__ import annotations


class AgencyConfigError(ValueError):
    """Agency configuration is missing or wrong; the message names what to set."""


class AgencyError(Exception):
    """Base class: an agency call did not give a usable result."""

    #: Stable machine-readable code, used in reasons and the ``error`` of a step.
    code = "agency_error"
    #: Whether another attempt later could succeed.
    retryable = False

    def __init__(self, agency: str, message: str, *, sent: bool = True) -> None:
        self.agency = agency
        self.message = message
        self.sent = sent
        super().__init__(f"{agency}: {message}")


class TransientAgencyError(AgencyError):
    """Temporary trouble: a timeout, a 5xx, a 429 or a dropped connection."""

    code = "agency_unavailable"
    retryable = True

    def __init__(
        self,
        agency: str,
        message: str,
        *,
        sent: bool = True,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(agency, message, sent=sent)
        self.retry_after = retry_after
        if code is not None:
            self.code = code


class CircuitOpen(TransientAgencyError):
    """The agency's circuit breaker is open, so the call failed fast without being sent."""

    code = "agency_circuit_open"

    def __init__(self, agency: str, reopens_in: float, last_error: str = "") -> None:
        cause = f" (last: {last_error})" if last_error else ""
        super().__init__(
            agency,
            f"circuit open after repeated failures{cause}; retry in {reopens_in:.0f}s",
            sent=False,
        )


class PermanentAgencyError(AgencyError):
    """The agency refused the request; repeating it unchanged cannot help."""

    code = "agency_rejected"

    def __init__(self, agency: str, message: str, *, sent: bool = True, code: str | None = None):
        super().__init__(agency, message, sent=sent)
        if code is not None:
            self.code = code


class AuthenticationFailed(PermanentAgencyError):
    """Credentials were rejected, even after one token refresh."""

    code = "agency_auth_failed"


class UnusableResponse(AgencyError):
    """The agency answered, but the answer cannot be read (garbage, truncated, hostile XML)."""

    code = "agency_bad_response"
