"""Authentication: tokens for systems (``Token`` or ``Bearer``), sessions for the browser.

Nothing under /api/ answers without authentication, the schema and the docs included; only
/health/ does.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from masterdata.services import tokens
from tests.masterdata.api.helpers import DOMAINS

pytestmark = pytest.mark.django_db

PROTECTED = [
    "/api/v1/",
    "/api/schema/",
    "/api/schema/?format=json",
    "/api/docs/",
    *[f"/api/v1/{d.api_path}/" for d in DOMAINS],
]


def logged_in(user, **kwargs) -> APIClient:
    """A browser-like client; the user is reloaded because the factory leaves the password unsaved."""
    client = APIClient(**kwargs)
    client.force_login(type(user).objects.get(pk=user.pk))
    return client


@pytest.mark.parametrize("path", PROTECTED)
def test_without_credentials_every_api_endpoint_answers_401(path):
    response = APIClient().get(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("suffix", ["", "history/", "links/", "deactivate/"])
def test_record_endpoints_answer_401_without_credentials(customers, suffix):
    path = f"/api/v1/customers/{customers.a.pk}/{suffix}"
    response = APIClient().post(path) if suffix == "deactivate/" else APIClient().get(path)

    assert response.status_code == 401


def test_errors_of_the_data_api_are_json_too():
    response = APIClient().get("/api/v1/customers/")

    assert response.json()["code"] == "not_authenticated"


def test_health_answers_without_credentials():
    response = APIClient().get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "bearer"])
def test_a_token_is_accepted_with_either_keyword(steward_a, customers, keyword):
    token = tokens.issue(steward_a, "tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token.key}")

    response = client.get("/api/v1/customers/")

    assert response.status_code == 200
    assert {row["code"] for row in response.json()["results"]} == {"CA-1", "CA-2"}


@pytest.mark.parametrize(
    "header",
    [
        "Token wrong-key",
        "Bearer wrong-key",
        "Token",
        "Bearer a b",
        "Basic dXNlcjpwYXNz",
        "Token \x00",
        "Token " + "k" * 500,
    ],
)
def test_a_wrong_or_malformed_token_answers_401(steward_a, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/customers/")

    assert response.status_code == 401
    assert response.json()["detail"]


def test_the_token_of_a_deactivated_user_answers_401(steward_a):
    token = tokens.issue(steward_a, "tests")
    steward_a.is_active = False
    steward_a.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.key}")

    assert client.get("/api/v1/customers/").status_code == 401


def test_a_browser_session_reads_the_api(steward_a, customers):
    client = logged_in(steward_a)

    response = client.get("/api/v1/customers/")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


def test_a_browser_session_must_send_the_csrf_token_to_write(steward_a, customers):
    client = logged_in(steward_a, enforce_csrf_checks=True)
    path = f"/api/v1/customers/{customers.a.pk}/"

    refused = client.patch(path, {"name": "No CSRF"}, format="json")
    client.get("/api/docs/")  # the interactive docs set the CSRF cookie their requests send back
    accepted = client.patch(
        path, {"name": "With CSRF"}, format="json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 200


def test_token_clients_need_no_csrf_token(steward_a, customers):
    token = tokens.issue(steward_a, "tests")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = client.patch(f"/api/v1/customers/{customers.a.pk}/", {"name": "Token write"}, format="json")

    assert response.status_code == 200
