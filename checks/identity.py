"""Which identities a person is found by: name and date of birth with each postcode they lived at.

A subject is one person across address moves: every postcode of the address history gives one
identity, and a match on any of them finds the subject. The normalisation of each identity is
:func:`checks.inputs.identity_of`'s, so there is one definition of it.
"""

from __future__ import annotations

from agencies.contract import Person
from checks.crypto import Cipher
from checks.inputs import identity_of


def identities(person: Person) -> list[str]:
    """The normalised identities of a person: one per distinct postcode, current first."""
    seen: dict[str, None] = {}
    for address in person.addresses:
        # identity_of reads the current (first) address: give it each address in turn.
        one = person.model_copy(update={"addresses": (address,)})
        seen.setdefault(identity_of(one), None)
    return list(seen)


def identity_hashes(cipher: Cipher, person: Person) -> tuple[list[str], list[str]]:
    """The keyed hashes a person is stored under (newest key) and looked up by (every key)."""
    keys = identities(person)
    newest = [cipher.identity_hash(k) for k in keys]
    every = [h for k in keys for h in cipher.identity_hashes(k)]
    return newest, every
