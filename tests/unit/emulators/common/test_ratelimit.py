"""Sliding-window service protection."""

from __future__ import annotations

from crmsync.emulators.common.clock import Clock
from crmsync.emulators.common.ratelimit import SlidingWindowLimiter


def limiter(clock: Clock, **overrides: int | float) -> SlidingWindowLimiter:
    limits: dict[str, float] = {
        "requests": 3,
        "window_seconds": 10,
        "execution_ms": 10_000,
        "concurrent": 5,
    }
    limits.update(overrides)
    return SlidingWindowLimiter(
        clock,
        requests=int(limits["requests"]),
        window_seconds=limits["window_seconds"],
        execution_ms=int(limits["execution_ms"]),
        concurrent=int(limits["concurrent"]),
    )


def test_requests_over_the_window_limit_are_refused_until_the_oldest_leaves() -> None:
    clock = Clock()
    limits = limiter(clock)
    remaining = []
    for _ in range(3):
        decision = limits.enter("u")
        assert decision.allowed
        remaining.append(decision.remaining_requests)
        limits.leave("u", 1)
        clock.advance(1)
    assert remaining == [2, 1, 0]
    refused = limits.enter("u")
    assert not refused.allowed
    assert refused.reason == "requests"
    assert 6.9 < refused.retry_after < 7.1  # the first request leaves the window at t=10
    clock.advance(refused.retry_after + 0.01)
    assert limits.enter("u").allowed


def test_other_keys_are_not_affected() -> None:
    clock = Clock()
    limits = limiter(clock, requests=1)
    assert limits.enter("a").allowed
    assert not limits.enter("a").allowed
    assert limits.enter("b").allowed


def test_a_client_that_keeps_sending_is_never_served_and_its_pause_grows() -> None:
    clock = Clock()
    limits = limiter(clock, requests=2, window_seconds=10)
    assert limits.enter("u").allowed
    assert limits.enter("u").allowed
    first = limits.enter("u")
    assert not first.allowed
    assert 9.9 < first.retry_after <= 10
    clock.advance(9)
    again = limits.enter("u")
    assert not again.allowed
    assert again.retry_after > 5  # one second of pause was left; sending made it longer
    for _ in range(40):  # a request every second, for four windows: never served
        clock.advance(1)
        decision = limits.enter("u")
        assert not decision.allowed
        assert decision.reason == "requests"
    clock.advance(decision.retry_after + 0.01)
    assert limits.enter("u").allowed


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    limits = limiter(clock, requests=1, window_seconds=10)
    limits.enter("u")
    clock.advance(9.9)
    assert limits.enter("u").retry_after == 1.0


def test_execution_time_limit() -> None:
    clock = Clock()
    limits = limiter(clock, requests=100, execution_ms=1000)
    assert limits.enter("u").allowed
    limits.leave("u", 600)
    decision = limits.enter("u")
    assert decision.allowed
    assert decision.remaining_time_ms == 400
    limits.leave("u", 600)
    clock.advance(2)
    refused = limits.enter("u")
    assert (refused.allowed, refused.reason) == (False, "time")
    assert 7.9 < refused.retry_after < 8.1
    clock.advance(8.1)
    assert limits.enter("u").allowed


def test_concurrency_gate() -> None:
    limits = limiter(Clock(), requests=100, concurrent=2)
    assert limits.enter("u").allowed
    assert limits.enter("u").allowed
    refused = limits.enter("u")
    assert (refused.allowed, refused.reason, refused.retry_after) == (False, "concurrency", 1.0)
    limits.leave("u", 5)
    assert limits.enter("u").allowed


def test_remaining_and_reset() -> None:
    clock = Clock()
    limits = limiter(clock)
    limits.enter("u")
    limits.leave("u", 250)
    assert limits.remaining("u") == (2, 9750)
    limits.reset()
    assert limits.remaining("u") == (3, 10_000)


def test_many_requests_in_one_window_stop_at_the_limit() -> None:
    limits = limiter(Clock(), requests=6000, window_seconds=300, concurrent=52)
    allowed = 0
    for _ in range(20_000):
        decision = limits.enter("u")
        if decision.allowed:
            allowed += 1
            limits.leave("u", 1)
    assert allowed == 6000
