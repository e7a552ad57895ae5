"""Hardening: login lockout, API rate limits, content security policy, no CORS, safe production settings."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory
from tests.test_settings import manage, production_env

PASSWORD = "Correct-Horse-9"
INLINE_SCRIPT = re.compile(r'<script(?: nonce="([^"]*)")?>(.*?)</script>', re.S)
LOGIN = "/admin/login/"


@pytest.fixture
def staff(db):
    return UserFactory(username="steward", is_staff=True, password=PASSWORD)


def login(client: Client, password: str, ip: str = "192.0.2.10"):
    return client.post(LOGIN, {"username": "steward", "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def fail_logins(client: Client, times: int) -> list[int]:
    return [login(client, f"wrong-{n}").status_code for n in range(times)]


# --- login lockout (django-axes) -----------------------------------------------------------------
def test_five_failed_admin_logins_lock_the_account_out_from_that_address(staff):
    client = Client()

    statuses = fail_logins(client, 5)

    assert statuses == [200, 200, 200, 200, 429]
    assert login(client, "wrong-again").status_code == 429


def test_while_locked_out_even_the_right_password_is_refused(staff):
    client = Client()
    fail_logins(client, 5)

    response = login(client, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_behind_a_trusted_proxy_the_lockout_counts_the_client_not_the_proxy(staff, settings):
    settings.MDM_TRUSTED_PROXIES = 1

    def through_proxy(password: str, client_address: str):
        return Client().post(
            LOGIN,
            {"username": "steward", "password": password, "next": "/admin/"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=client_address,
        )

    assert [through_proxy(f"wrong-{n}", "203.0.113.9").status_code for n in range(5)][-1] == 429
    # The attacker's failures do not lock the steward out everywhere the proxy serves.
    assert through_proxy(PASSWORD, "198.51.100.20").status_code == 302


def test_the_lockout_is_per_user_and_address_so_the_user_can_still_log_in_elsewhere(staff):
    fail_logins(Client(), 5)

    response = login(Client(), PASSWORD, ip="198.51.100.20")

    assert response.status_code == 302


def test_after_the_cool_off_period_the_user_may_log_in_again(staff, settings):
    client = Client()
    fail_logins(client, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    assert login(client, PASSWORD).status_code == 302


def test_a_successful_login_resets_the_failure_count(staff):
    client = Client()
    fail_logins(client, 4)
    assert login(client, PASSWORD).status_code == 302
    client.logout()

    assert fail_logins(client, 4) == [200, 200, 200, 200]


# --- API rate limits (DRF throttling) ------------------------------------------------------------
def test_a_token_over_its_rate_gets_429_with_retry_after(api_a, three_per_minute):
    statuses = [api_a.get("/api/v1/customers/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = api_a.get("/api/v1/customers/")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert json.loads(response.content)["code"] == "throttled"


def test_the_rate_is_counted_per_token(api_a, api_b, three_per_minute):
    for _ in range(4):
        api_a.get("/api/v1/customers/")

    assert api_b.get("/api/v1/customers/").status_code == 200


def test_the_default_rates_leave_room_for_integrations(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]

    assert rates["user"] == "10000/hour" and rates["anon"] == "60/minute"


# --- content security policy and CORS ------------------------------------------------------------
def policy(response) -> dict[str, list[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";") if part.strip())
    return {name: values for name, *values in directives}


def test_admin_pages_carry_a_strict_content_security_policy(db):
    response = Client().get(LOGIN)

    csp = policy(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert "<script>" not in response.content.decode()


def test_the_api_docs_inline_script_runs_only_by_the_nonce_of_its_response(superuser):
    client = Client()
    client.force_login(superuser)

    first, second = client.get("/api/docs/"), client.get("/api/docs/")

    nonces = []
    for page in (first, second):
        scripts = INLINE_SCRIPT.findall(page.content.decode())
        assert len(scripts) == 1 and "SwaggerUIBundle" in scripts[0][1]
        nonce = scripts[0][0]
        assert policy(page)["script-src"] == ["'self'", f"'nonce-{nonce}'"]
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_no_cross_origin_access_is_granted_by_default(api_a):
    origin = {"HTTP_ORIGIN": "https://elsewhere.example"}
    preflight = api_a.options("/api/v1/customers/", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST", **origin)
    response = api_a.get("/api/v1/customers/", **origin)

    for answer in (preflight, response):
        assert "Access-Control-Allow-Origin" not in answer
        assert "Access-Control-Allow-Credentials" not in answer


# --- production settings ---------------------------------------------------------------------------
PRINT_SETTINGS = """
import json
import re
from django.conf import settings as s
print(json.dumps({
    "session_secure": s.SESSION_COOKIE_SECURE, "csrf_secure": s.CSRF_COOKIE_SECURE,
    "hsts": s.SECURE_HSTS_SECONDS, "first_backend": s.AUTHENTICATION_BACKENDS[0],
    "log_format": s.LOGGING["handlers"]["console"]["formatter"],
    "cors_app": any("cors" in app for app in s.INSTALLED_APPS),
    "cache": s.CACHES["default"]["BACKEND"],
}))
"""


def test_production_settings_secure_cookies_hsts_lockout_json_logs_and_a_shared_cache(tmp_path):
    result = manage("shell", "-c", PRINT_SETTINGS, tmp_path=tmp_path, **production_env())

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "session_secure": True,
        "csrf_secure": True,
        "hsts": 31536000,
        "first_backend": "axes.backends.AxesStandaloneBackend",
        "log_format": "json",
        "cors_app": False,
        "cache": "mdm_project.cache.RedisCache",  # Django's Redis cache, reusing its clients
    }
