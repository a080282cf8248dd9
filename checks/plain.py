"""Plain values whose JSON form is simply their fields.

A report or a problem that is printed as it is needs no hand-written ``as_dict``: the mixin
gives it one from :func:`dataclasses.asdict`, so adding a field adds it to the JSON too.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar


class FieldsAsDict:
    """Mixin for a dataclass printed as its fields, in their declared order."""

    # Declared so that type checkers see a dataclass (the subclass is one).
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (nested dataclasses as dicts), ready for JSON."""
        return asdict(self)
