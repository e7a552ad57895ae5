"""The retry policy: what is worth retrying, and when."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from connectors.errors import AuthError, ConfigurationError, ConnectorError, PayloadError, TransientError
from connectors.models import FailureClass
from connectors.services.mapping import MappingError
from connectors.services.retry import RetryPolicy, classify

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "classification", "retry"),
    [
        (TransientError("timed out"), FailureClass.TRANSIENT, True),
        (TransientError("busy", status=503), FailureClass.TRANSIENT, True),
        (TransientError("slow down", status=429, retry_after=30), FailureClass.TRANSIENT, True),
        (ConnectorError("request timeout", status=408), FailureClass.TRANSIENT, True),
        (ConnectorError("conflict", status=409), FailureClass.TRANSIENT, True),
        (PayloadError("no key in the answer"), FailureClass.TRANSIENT, True),
        (ConnectorError("bad request", status=400), FailureClass.BAD_DATA, False),
        (ConnectorError("unprocessable", status=422), FailureClass.BAD_DATA, False),
        (ConnectorError("not found", status=404), FailureClass.BAD_DATA, False),
        (MappingError("not in the lookup table"), FailureClass.BAD_DATA, False),
        (AuthError("forbidden", status=403), FailureClass.CONFIGURATION, False),
        (ConfigurationError("no connection"), FailureClass.CONFIGURATION, False),
    ],
)
def test_failures_are_classified_as_transient_bad_data_or_configuration(error, classification, retry):
    verdict = classify(error)
    assert (verdict.classification, verdict.retry) == (classification, retry)


def test_retry_after_is_kept_for_the_schedule():
    assert classify(TransientError("slow down", status=429, retry_after=90)).retry_after == 90


def test_the_default_eight_attempts_spread_over_about_an_hour():
    policy = RetryPolicy()
    nominal = sum(policy.base_seconds * 2 ** (n - 1) for n in range(1, policy.max_attempts))
    assert policy.max_attempts == 8 and 50 * 60 <= nominal <= 70 * 60
    waits = [policy.delay(n, rng=random.Random(seed)) for seed in range(50) for n in range(1, 8)]
    assert min(waits) >= 15 and max(waits) <= 1920 * 1.5


def test_backoff_grows_exponentially_with_jitter_and_respects_retry_after():
    policy = RetryPolicy(max_attempts=5, base_seconds=10, max_seconds=60)
    rng = random.Random(7)
    for attempts, nominal in [(1, 10), (2, 20), (3, 40), (4, 60)]:
        assert 0.5 * nominal <= policy.delay(attempts, rng=rng) <= 1.5 * nominal
    assert policy.delay(1, retry_after=300) >= 300
    spread = {round(policy.delay(3, rng=random.Random(seed)), 3) for seed in range(10)}
    assert len(spread) > 5  # jitter: a herd of retries does not come back in step


def test_after_the_last_attempt_there_is_no_next_one():
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_attempt(2, NOW) > NOW
    assert policy.next_attempt(3, NOW) is None
    assert policy.next_attempt(1, NOW, retry_after=3600) >= NOW + timedelta(hours=1)
