"""The audit chain's hashing and the identities a person is found by (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from agencies.contract import Address, Person
from checks.audit_chain import GENESIS, chain_hash, event_digest
from checks.crypto import Cipher
from checks.identity import identities, identity_hashes

AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_an_event_digest_changes_with_any_field_and_not_with_key_order() -> None:
    base = event_digest(AT, "worker", "decided", "c1", {"a": 1, "b": [1, 2]})
    assert base == event_digest(AT, "worker", "decided", "c1", {"b": [1, 2], "a": 1})
    assert base != event_digest(AT, "worker", "decided", "c1", {"a": 2, "b": [1, 2]})
    assert base != event_digest(AT, "operator", "decided", "c1", {"a": 1, "b": [1, 2]})


def test_each_link_depends_on_the_one_before() -> None:
    d = event_digest(AT, "worker", "decided", "c1", None)
    first = chain_hash(GENESIS, 1, d)
    assert chain_hash(first, 2, d) != chain_hash(GENESIS, 2, d)
    assert chain_hash(GENESIS, 1, d) != chain_hash(GENESIS, 2, d)


def _person(*postcodes: str) -> Person:
    return Person(
        forename="Jane",
        surname="Doe",
        date_of_birth=date(1985, 3, 14),
        addresses=tuple(Address(line1="1 Road", town="Leeds", postcode=p) for p in postcodes),
    )


def test_a_person_has_one_identity_per_postcode_of_their_history() -> None:
    assert len(identities(_person("LS1 4AP", "YO1 7HH", "LS1 4AP"))) == 2


def test_a_person_who_moved_shares_an_identity_hash_with_their_earlier_self() -> None:
    cipher = Cipher()
    before, _ = identity_hashes(cipher, _person("YO1 7HH"))
    _, lookup_after = identity_hashes(cipher, _person("LS1 4AP", "YO1 7HH"))
    assert set(before) <= set(lookup_after)
