"""The base of the services that work over the checks store and need nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store's modules import the services built on this
    from checks.store import Store


class OnStore:
    """A service over one :class:`~checks.store.Store` (its only dependency)."""

    def __init__(self, store: Store) -> None:
        self.store = store
