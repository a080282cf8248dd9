"""Small helpers shared by the tests."""

from __future__ import annotations

import uuid
from typing import Any

from checks.samples import persona_request

#: What `checkctl show --json` always carries (SPEC.md).
SHOW_KEYS = frozenset(
    {
        "id",
        "status",
        "decision",
        "reasons",
        "steps",
        "footprints",
        "flagged",
        "retention_until",
        "subject_id",
    }
)


def request_for(persona: str, **overrides: Any) -> dict[str, Any]:
    """A valid request for a sandbox persona with a fresh idempotency key."""
    return persona_request(persona, f"T-{persona}-{uuid.uuid4().hex[:10]}", **overrides)
