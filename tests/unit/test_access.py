"""Roles, token digests, the per-token rate limit and console session signing (pure rules)."""

from __future__ import annotations

from checks.access import (
    GRANTS,
    Action,
    RateLimiter,
    Role,
    allowed,
    can_read,
    new_token,
    parse_role,
    token_digest,
)
from web.security import Signer


class FrozenClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_operators_rerun_and_only_submitters_submit() -> None:
    assert [r for r in Role if allowed(r, Action.RERUN)] == [Role.OPERATOR]
    assert [r for r in Role if allowed(r, Action.SUBMIT)] == [Role.SUBMITTER]


def test_compliance_alone_exports_erases_and_confirms_fraud() -> None:
    for action in (Action.SUBJECT_EXPORT, Action.SUBJECT_ERASE, Action.FRAUD_CONFIRM):
        assert [r for r in Role if allowed(r, action)] == [Role.COMPLIANCE]


def test_every_role_has_grants() -> None:
    assert set(GRANTS) == set(Role)


def test_a_submitter_reads_only_its_own_checks_and_an_operator_any() -> None:
    assert can_read(Role.SUBMITTER, "orders", "orders")
    assert not can_read(Role.SUBMITTER, "orders", "upgrades")
    assert can_read(Role.OPERATOR, "ops", "orders")


def test_parse_role_refuses_unknown_roles() -> None:
    assert parse_role("reviewer") is Role.REVIEWER
    assert parse_role("admin") is None


def test_tokens_are_random_and_stored_as_a_digest() -> None:
    a, b = new_token(), new_token()
    assert a != b and a.startswith("chk_") and len(a) > 40
    assert token_digest(a) == token_digest(a) != token_digest(b)
    assert a not in token_digest(a)


def test_the_rate_limiter_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FrozenClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)

    assert [limiter.take("t") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("t") == 0.5  # one request refills in 1/2 s
    assert limiter.take("other") == 0.0  # each token has its own bucket
    clock.now += 0.5
    assert limiter.take("t") == 0.0
    assert limiter.take("t") > 0


def test_a_session_cookie_verifies_until_it_expires_and_not_when_altered() -> None:
    signer = Signer(b"k" * 32)
    value = signer.session_value("token-1", lifetime=60, now=1000)

    assert signer.session_token_id(value, now=1059) == "token-1"
    assert signer.session_token_id(value, now=1061) is None
    assert signer.session_token_id(value.replace("token-1", "token-2"), now=1000) is None
    assert Signer(b"x" * 32).session_token_id(value, now=1000) is None


def test_a_csrf_token_belongs_to_one_nonce() -> None:
    signer = Signer(b"k" * 32)
    assert signer.csrf_token("n1") == signer.csrf_token("n1") != signer.csrf_token("n2")
