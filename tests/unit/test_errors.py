from crmsync.errors import (
    AuthenticationError,
    ConfigurationError,
    CrmsyncError,
    RateLimitedError,
    TransientError,
)


def test_branches_say_what_to_do() -> None:
    assert issubclass(AuthenticationError, ConfigurationError)
    assert issubclass(RateLimitedError, TransientError)
    assert not issubclass(ConfigurationError, TransientError)


def test_context_carries_only_known_attributes() -> None:
    error = RateLimitedError("slow down", retry_after=2.5, code="0x80072322", status=429)
    assert error.retry_after == 2.5
    assert error.context() == {"code": "0x80072322", "status": 429}
    assert str(error) == "slow down"
    assert isinstance(error, CrmsyncError)
