"""The login limiter: per (user name, address) pair, and per address trying many names."""

from __future__ import annotations

from crmsync.api.auth import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_pair_is_held_back_after_its_attempts_until_the_window_passes() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=3, window=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("ada", "10.0.0.1") is None
        limiter.failed("ada", "10.0.0.1")
        clock.now += 1
    assert limiter.retry_after("ada", "10.0.0.1") == 57
    clock.now += 57
    assert limiter.retry_after("ada", "10.0.0.1") is None


def test_a_pairs_failures_hold_back_neither_another_user_nor_another_address() -> None:
    limiter = LoginLimiter(attempts=3, clock=Clock())
    for _ in range(3):
        limiter.failed("ada", "10.0.0.1")
    assert limiter.retry_after("ada", "10.0.0.1") is not None
    assert limiter.retry_after("grace", "10.0.0.1") is None
    assert limiter.retry_after("ada", "10.0.0.2") is None


def test_a_success_clears_the_pairs_failures() -> None:
    limiter = LoginLimiter(attempts=3, clock=Clock())
    for _ in range(2):
        limiter.failed("ada", "10.0.0.1")
    limiter.succeeded("ada", "10.0.0.1")
    limiter.failed("ada", "10.0.0.1")
    assert limiter.retry_after("ada", "10.0.0.1") is None


def test_an_address_failing_with_many_names_is_held_back_for_every_name() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=5, accounts=4, window=60, clock=clock)
    for name in ("a", "b", "c"):
        limiter.failed(name, "10.0.0.9")
        clock.now += 1
    assert limiter.retry_after("ada", "10.0.0.9") is None
    limiter.failed("d", "10.0.0.9")
    assert limiter.retry_after("ada", "10.0.0.9") == 57
    assert limiter.retry_after("ada", "10.0.0.1") is None
    clock.now += 57
    assert limiter.retry_after("ada", "10.0.0.9") is None


def test_one_users_repeated_failures_count_once_against_the_address() -> None:
    limiter = LoginLimiter(attempts=100, accounts=2, clock=Clock())
    for _ in range(50):
        limiter.failed("ada", "10.0.0.1")
    assert limiter.retry_after("grace", "10.0.0.1") is None


def test_expired_failures_are_forgotten() -> None:
    clock = Clock()
    limiter = LoginLimiter(window=60, clock=clock)
    for number in range(100):
        limiter.failed(f"name-{number}", f"10.0.0.{number}")
    clock.now += 61
    limiter.retry_after("ada", "10.0.0.1")
    assert limiter._failures == {}
