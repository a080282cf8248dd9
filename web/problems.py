"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns goes through :func:`problem_response`, so callers parse one shape:
``type``, ``title``, ``status``, ``detail``, plus ``code`` (a stable machine name) and, for
invalid requests, ``errors`` (every offending field with what is wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

from checks.errors import Problem

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """Raised by a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[Problem] = (),
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}
        #: RFC 9457 extension members (e.g. why erasure was refused and until when).
        self.extensions = extensions or {}


def problem_body(
    status: int,
    code: str,
    detail: str,
    errors: Sequence[Problem] = (),
    instance: str = "",
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document for an error (no personal data: ``detail`` names fields only)."""
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [{"field": p.field, "message": p.message} for p in errors]
    return body


def problem_response(exc: ApiProblem, instance: str = "") -> JSONResponse:
    """The HTTP response for an :class:`ApiProblem`."""
    return JSONResponse(
        problem_body(exc.status, exc.code, exc.detail, exc.errors, instance, exc.extensions),
        status_code=exc.status,
        headers=exc.headers,
        media_type=PROBLEM_JSON,
    )
