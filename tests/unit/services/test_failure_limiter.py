"""The failure limiter counts per bucket and says how long to wait."""

from __future__ import annotations

from slipway.services.auth import FailureLimiter


def test_each_bucket_counts_on_its_own_and_the_first_over_the_limit_is_named() -> None:
    limiter = FailureLimiter(max_failures=3, window=60.0)
    assert [limiter.fail("source:a", "key:k1") for _ in range(3)] == [None, None, None]
    bucket, retry = limiter.fail("source:a", "key:k2")  # type: ignore[misc]
    assert bucket == "source:a" and 1 <= retry <= 61
    assert limiter.fail("source:b", "key:k2") is None  # k2 has 2 failures, b one
    assert limiter.fail("source:c", "key:k1")[0] == "key:k1"  # type: ignore[index]

