"""Token issuing, verification and expiry on the emulator clock."""

from __future__ import annotations

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.tokens import TokenIssuer


def test_issued_token_verifies_until_it_expires() -> None:
    clock = Clock()
    tokens = TokenIssuer(clock, lifetime_seconds=60)
    token, expires_in = tokens.issue("app-1")
    assert expires_in == 60
    assert len(token) >= 40
    assert tokens.verify(token) == "app-1"
    clock.advance(59)
    assert tokens.verify(token) == "app-1"
    clock.advance(2)
    assert tokens.verify(token) is None


def test_tokens_are_random_and_unknown_ones_fail() -> None:
    tokens = TokenIssuer(Clock())
    first, _ = tokens.issue("a")
    second, _ = tokens.issue("a")
    assert first != second
    assert tokens.verify("not-a-token") is None
    assert tokens.verify("") is None


def test_expire_all_invalidates_every_token() -> None:
    tokens = TokenIssuer(Clock())
    issued = [tokens.issue(f"s{i}")[0] for i in range(3)]
    tokens.expire_all()
    assert all(tokens.verify(t) is None for t in issued)
    fresh, _ = tokens.issue("s")
    assert tokens.verify(fresh) == "s"


def test_unrestricted_issuer_allows_any_client() -> None:
    tokens = TokenIssuer(Clock())
    assert not tokens.restricted
    assert tokens.client_allowed("anyone", "anything")
    assert tokens.client_allowed("anyone", None)


def test_restricted_issuer_checks_id_and_secret() -> None:
    tokens = TokenIssuer(Clock(), client_id="app", client_secret="s3cret")
    assert tokens.restricted
    assert tokens.client_allowed("app", "s3cret")
    assert not tokens.client_allowed("app", "wrong")
    assert not tokens.client_allowed("other", "s3cret")
    assert tokens.client_known("app")
    assert not tokens.client_known("other")
    # Certificate (client assertion) authentication carries no secret: the id decides.
    assert tokens.client_allowed("app", None)
    assert not tokens.client_allowed("other", None)


def test_many_expired_tokens_are_pruned() -> None:
    clock = Clock()
    tokens = TokenIssuer(clock, lifetime_seconds=1)
    old = [tokens.issue("x")[0] for _ in range(1000)]
    clock.advance(5)
    live = [tokens.issue("y")[0] for _ in range(100)]
    assert len(tokens._grants) < 200
    assert tokens.verify(live[-1]) == "y"
    assert tokens.verify(old[0]) is None
