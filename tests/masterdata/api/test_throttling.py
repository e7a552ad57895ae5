"""Rate limits count in constant time: two integers per token in the cache, never a list of every request."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from masterdata.api.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db
MINUTE = 60.0


class Clock:
    """The throttle's timer, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, three_per_minute):
    """Three requests per minute, time standing at the start of a window."""
    clock = Clock(1_000_020 * MINUTE)
    monkeypatch.setattr(UserRateThrottle, "timer", clock)
    return clock


def call(api, clock: Clock, at: float) -> int:
    clock.now = at
    return api.get("/api/v1/customers/").status_code


def test_the_limit_holds_within_a_window_and_says_when_to_come_back(api_a, clock):
    start = clock.now
    assert [call(api_a, clock, start + n) for n in range(3)] == [200, 200, 200]

    refused = api_a.get("/api/v1/customers/")

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_the_previous_window_counts_for_the_part_of_it_the_sliding_minute_still_covers(api_a, clock):
    start = clock.now
    for n in range(3):
        call(api_a, clock, start + 50 + n)  # three calls late in one window

    # 15 s into the next window 75 % of the previous one still counts: 3 × 0.75 = 2.25 < 3, one more fits
    assert call(api_a, clock, start + MINUTE + 15) == 200
    assert call(api_a, clock, start + MINUTE + 16) == 429  # 3 × 0.73 + 1 ≥ 3
    # 45 s in, 25 % counts: 0.75 + 1 → room for two more requests, not three
    assert [call(api_a, clock, start + MINUTE + 45 + n / 10) for n in range(3)] == [200, 200, 429]


def test_retry_after_is_when_the_previous_window_weighs_little_enough(api_a, clock):
    start = clock.now
    for n in range(3):
        call(api_a, clock, start + 50 + n)
    call(api_a, clock, start + MINUTE + 15)
    clock.now = start + MINUTE + 16

    refused = api_a.get("/api/v1/customers/")

    # allowed again once 3 × (1 - t/60) + 1 < 3, i.e. from t = 20 s: four seconds from now
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) in (4, 5)


def test_a_refused_request_is_not_counted(api_a, clock):
    start = clock.now
    for n in range(5):
        call(api_a, clock, start + n)

    assert call(api_a, clock, start + MINUTE * 2) == 200  # two windows later nothing is left


def test_the_cache_holds_one_integer_per_window_whatever_the_number_of_requests(api_a, steward_a, clock, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "1000/minute", "anon": "3/minute"})
    for _ in range(40):
        assert call(api_a, clock, clock.now + 0.01) == 200

    key = UserRateThrottle.cache_format % {"scope": "user", "ident": steward_a.pk}
    window = int(clock.now // MINUTE)
    assert cache.get(f"{key}:{window}") == 40
    assert cache.get(key) is None  # DRF's list of timestamps is never written


def test_tokens_count_apart(api_a, api_b, clock):
    start = clock.now
    for n in range(4):
        call(api_a, clock, start + n)

    assert call(api_b, clock, start + 5) == 200
