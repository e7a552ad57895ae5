"""Rate limits: per token, in constant time (two integers per token in the cache, never a list of every
request), and per address for every request without valid credentials, so that guessing tokens is throttled.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from masterdata.api.throttling import UserRateThrottle
from masterdata.models import ApiToken
from masterdata.services import tokens
from tests.conftest import THROTTLES, client_for

pytestmark = pytest.mark.django_db
MINUTE = 60.0
ATTACKER, INTEGRATION = "203.0.113.66", "198.51.100.7"


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
    for throttle in THROTTLES:
        monkeypatch.setattr(throttle, "timer", clock)
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

    token = ApiToken.objects.get(user=steward_a)
    key = UserRateThrottle.cache_format % {"scope": "user", "ident": f"token-{token.pk}"}
    window = int(clock.now // MINUTE)
    assert cache.get(f"{key}:{window}") == 40
    assert cache.get(key) is None  # DRF's list of timestamps is never written


def test_tokens_count_apart(api_a, api_b, clock):
    start = clock.now
    for n in range(4):
        call(api_a, clock, start + n)

    assert call(api_b, clock, start + 5) == 200


def test_two_tokens_of_one_user_count_apart(api_a, steward_a, clock):
    second_token = client_for(steward_a)
    start = clock.now
    assert [call(api_a, clock, start + n) for n in range(4)] == [200, 200, 200, 429]

    assert call(second_token, clock, start + 5) == 200


def test_a_browser_session_counts_for_its_user_apart_from_the_users_tokens(api_a, steward_a, clock):
    session = APIClient()
    session.force_login(type(steward_a).objects.get(pk=steward_a.pk))
    start = clock.now
    for n in range(4):
        call(api_a, clock, start + n)

    assert [call(session, clock, start + 5 + n) for n in range(4)] == [200, 200, 200, 429]


# --- guessing tokens -----------------------------------------------------------------------------
def from_address(address: str, authorization: str | None = None, **headers: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address, **headers)
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


@pytest.mark.parametrize(
    "path",
    ["/api/v1/customers/", "/api/v1/changes/", "/api/v1/ingest/crm/customer/", "/api/schema/", "/api/docs/"],
)
def test_wrong_tokens_from_one_address_get_429_after_the_anonymous_rate(clock, path):
    guesser = from_address(ATTACKER, "Token mdm_guess")
    send = guesser.post if "ingest" in path else guesser.get
    assert [send(path).status_code for _ in range(4)] == [401, 401, 401, 429]

    refused = send(path)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_missing_wrong_and_expired_tokens_share_the_addresss_budget(steward_a, clock):
    expired = tokens.issue(steward_a, "old", expires_at=timezone.now() - timedelta(minutes=1))
    attempts = [None, "Bearer mdm_guess", f"Token {expired.key}", f"Token {expired.key}"]

    statuses = [from_address(ATTACKER, header).get("/api/v1/customers/").status_code for header in attempts]

    assert statuses == [401, 401, 401, 429]


def test_an_expired_token_alone_is_throttled_like_a_wrong_one(steward_a, clock):
    expired = tokens.issue(steward_a, "old", expires_at=timezone.now() - timedelta(minutes=1))
    client = from_address(ATTACKER, f"Bearer {expired.key}")
    assert [client.get("/api/v1/customers/").status_code for _ in range(3)] == [401, 401, 401]

    refused = client.get("/api/v1/customers/")

    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert "WWW-Authenticate" not in refused


def test_a_forged_forwarded_for_header_does_not_buy_a_new_budget(clock):
    statuses = [
        from_address(ATTACKER, "Token mdm_guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").get("/api/v1/customers/")
        for n in range(4)
    ]

    assert [response.status_code for response in statuses] == [401, 401, 401, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_budget_and_forged_entries_buy_none(settings, clock):
    settings.MDM_TRUSTED_PROXIES = 1
    proxy = "127.0.0.1"  # every request arrives from the proxy; it appends the address it was called from

    def guess(client_address: str, forged: str = "") -> int:
        forwarded = f"{forged}, {client_address}" if forged else client_address
        return from_address(proxy, "Token mdm_guess", HTTP_X_FORWARDED_FOR=forwarded).get("/api/v1/customers/")

    assert [guess(ATTACKER, forged=f"10.0.0.{n}").status_code for n in range(4)] == [401, 401, 401, 429]
    assert guess(INTEGRATION).status_code == 401  # another client behind the same proxy: its own budget


def test_valid_tokens_are_not_refused_for_anothers_guessing(steward_a, steward_b, clock):
    guesser = from_address(ATTACKER, "Token mdm_guess")
    for _ in range(4):
        guesser.get("/api/v1/customers/")

    elsewhere = from_address(INTEGRATION, f"Token {tokens.issue(steward_a, 'erp').key}")
    same_address = from_address(ATTACKER, f"Token {tokens.issue(steward_b, 'crm').key}")
    assert elsewhere.get("/api/v1/customers/").status_code == 200
    assert same_address.get("/api/v1/customers/").status_code == 200
    assert from_address(INTEGRATION, "Token mdm_typo").get("/api/v1/customers/").status_code == 401


def test_guesses_count_in_the_sliding_minute_and_are_forgiven_after_it(clock):
    guesser = from_address(ATTACKER, "Token mdm_guess")
    start = clock.now
    assert [call(guesser, clock, start + n) for n in range(4)] == [401, 401, 401, 429]

    assert call(guesser, clock, start + 2 * MINUTE) == 401


def test_every_operation_documents_the_429(api_a):
    paths = api_a.get("/api/schema/", {"format": "json"}).json()["paths"]

    operations = [(path, op) for path, ops in paths.items() for op in ops.values() if isinstance(op, dict)]
    assert any(path.startswith("/api/v1/ingest/") for path, _ in operations)
    assert all("429" in op["responses"] for _, op in operations)
