"""The shared HTTP client: every auth type, OAuth2 token caching and refresh, retries, limits, reuse."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connectors.errors import AuthError, ConfigurationError, TransientError
from connectors.http import HttpClient, parse_retry_after
from connectors.protocols import FetchSpec, get_connector
from tests.connectors.conftest import make_connection
from tests.connectors.fakes import AuthPolicy, CrmFake, ScimFake, data
from tests.connectors.fakes.odata import query_of

CUSTOMERS = FetchSpec(
    resource="/api/customers", key_field="id", record_path="data", pagination="page", options={"total_path": "total"}
)
CLIENT_SECRET = "client-secret-~._-"


def oauth_connection(fake, oauth, *, secret=CLIENT_SECRET, **fields):
    return make_connection(
        "rest",
        fake.base_url,
        auth_type="oauth2_client_credentials",
        token_url=oauth.token_url,
        client_id="mdm-hub",
        client_secret=secret,
        **fields,
    )


@pytest.fixture
def protected_crm(issuer):
    with CrmFake(data.crm_customers(30), auth=AuthPolicy(issuer=issuer)) as fake:
        yield fake


def count(pages) -> int:
    return sum(len(p.records) for p in pages)


@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_oauth2_client_credentials_fetches_one_token_for_many_requests(protected_crm, oauth, issuer, client_auth):
    conn = oauth_connection(protected_crm, oauth, page_size=10, options={"oauth2_client_auth": client_auth})
    assert count(get_connector(conn).fetch(CUSTOMERS)) == 30
    assert issuer.issued == 1 and len(protected_crm.requests) == 3
    token_request = oauth.requests[0]
    assert token_request.form()["grant_type"] == "client_credentials"
    assert ("Authorization" in token_request.headers) == (client_auth == "basic")


def test_a_scope_is_requested_when_configured(protected_crm, oauth, issuer):
    issuer.scope = "api://crm/.default"
    assert count(get_connector(oauth_connection(protected_crm, oauth, scope="api://crm/.default")).fetch(CUSTOMERS))
    assert oauth.requests[0].form()["scope"] == "api://crm/.default"


def test_an_expired_token_is_fetched_again_before_use(oauth, issuer):
    issuer.lifetime = 1
    with CrmFake(data.crm_customers(5), auth=AuthPolicy(issuer=issuer)) as crm:
        connector = get_connector(oauth_connection(crm, oauth))
        assert count(connector.fetch(CUSTOMERS)) == 5
        time.sleep(1.05)
        assert count(connector.fetch(CUSTOMERS)) == 5
        assert issuer.issued == 2
        assert all(r.headers["Authorization"].startswith("Bearer tok-") for r in crm.requests)


def test_a_token_revoked_by_the_server_is_refreshed_once_on_401(protected_crm, oauth, issuer):
    connector = get_connector(oauth_connection(protected_crm, oauth, page_size=10))
    pages = connector.fetch(CUSTOMERS)
    next(pages)
    issuer.revoke_all()
    assert count(pages) == 20 and issuer.issued == 2
    assert [
        r.headers["Authorization"] == protected_crm.requests[0].headers["Authorization"] for r in protected_crm.requests
    ] == [True, True, False, False]


def test_a_refused_client_secret_raises_auth_error_from_the_token_endpoint(protected_crm, oauth):
    with pytest.raises(AuthError) as caught:
        list(get_connector(oauth_connection(protected_crm, oauth, secret="wrong")).fetch(CUSTOMERS))
    assert caught.value.status == 401 and "invalid_client" in str(caught.value) and "wrong" not in str(caught.value)
    assert protected_crm.requests == []


def test_a_resource_that_refuses_a_fresh_token_raises_auth_error(oauth, issuer):
    with CrmFake(data.crm_customers(3), auth=AuthPolicy(bearer_tokens={"other"})) as crm:
        with pytest.raises(AuthError):
            list(get_connector(oauth_connection(crm, oauth)).fetch(CUSTOMERS))
        assert issuer.issued == 2 and len(crm.requests) == 2  # refreshed once, then gave up


def test_secrets_given_by_env_reference_are_resolved_when_the_client_is_built(crm, monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", CrmFake.token)
    assert (
        count(
            get_connector(make_connection("rest", crm.base_url, auth_type="bearer", secret="${ENV:CRM_TOKEN}")).fetch(
                CUSTOMERS
            )
        )
        == 30
    )
    monkeypatch.delenv("CRM_TOKEN")
    with pytest.raises(ConfigurationError, match="CRM_TOKEN"):
        list(
            get_connector(make_connection("rest", crm.base_url, auth_type="bearer", secret="${ENV:CRM_TOKEN}")).fetch(
                CUSTOMERS
            )
        )


def test_too_many_requests_waits_for_retry_after_then_succeeds(crm):
    crm.fail(429, retry_after="1")
    started = time.monotonic()
    connector = get_connector(
        make_connection("rest", crm.base_url, auth_type="bearer", secret=CrmFake.token, options={"max_retries": 2})
    )
    assert count(connector.fetch(CUSTOMERS)) == 30
    assert time.monotonic() - started >= 1.0


def test_a_retry_after_longer_than_allowed_is_raised_at_once_with_the_wait(crm):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    crm.fail(503, retry_after=when)
    connector = get_connector(
        make_connection(
            "rest",
            crm.base_url,
            auth_type="bearer",
            secret=CrmFake.token,
            options={"max_retries": 3, "max_retry_after": 30},
        )
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        list(connector.fetch(CUSTOMERS))
    assert caught.value.status == 503 and 100 < caught.value.retry_after <= 120
    assert time.monotonic() - started < 1


def test_server_errors_are_retried_with_backoff_and_then_raised(crm):
    crm.fail(500, times=2)
    ok = get_connector(
        make_connection("rest", crm.base_url, auth_type="bearer", secret=CrmFake.token, options={"max_retries": 2})
    )
    assert count(ok.fetch(CUSTOMERS)) == 30
    crm.fail(502, times=5)
    with pytest.raises(TransientError) as caught:
        list(
            get_connector(
                make_connection(
                    "rest", crm.base_url, auth_type="bearer", secret=CrmFake.token, options={"max_retries": 1}
                )
            ).fetch(CUSTOMERS)
        )
    assert caught.value.status == 502 and caught.value.retry_after is None


def test_a_slow_answer_times_out_as_a_transient_error(crm):
    crm.slow(1.0)
    conn = make_connection("rest", crm.base_url, auth_type="bearer", secret=CrmFake.token, timeout_seconds=0.3)
    with pytest.raises(TransientError, match=r"timed out after 0\.3s"):
        list(get_connector(conn).fetch(CUSTOMERS))


def test_a_refused_connection_is_a_transient_error():
    with CrmFake() as crm:
        url = crm.base_url
    with pytest.raises(TransientError, match="connection failed"):
        list(get_connector(make_connection("rest", url)).fetch(CUSTOMERS))


def test_the_rate_limit_spaces_requests():
    with CrmFake(data.crm_customers(50)) as crm:
        conn = make_connection(
            "rest", crm.base_url, auth_type="bearer", secret=CrmFake.token, page_size=10, rate_limit_per_second=10
        )
        started = time.monotonic()
        assert count(get_connector(conn).fetch(CUSTOMERS)) == 50
        assert time.monotonic() - started >= 0.4  # 5 requests, 0.1 s apart


def test_pages_reuse_one_connection(crm):
    conn = make_connection("rest", crm.base_url, auth_type="bearer", secret=CrmFake.token, page_size=5)
    with get_connector(conn) as connector:
        assert count(connector.fetch(CUSTOMERS)) == 30
    assert len(crm.requests) == 6 and len({r.client_port for r in crm.requests}) == 1


def test_fixed_query_parameters_go_on_every_request_once():
    with ScimFake(data.scim_users(12)) as scim:
        conn = make_connection(
            "scim",
            scim.base_url,
            auth_type="bearer",
            secret=ScimFake.token,
            page_size=5,
            options={"query": {"sap-client": "100"}, "headers": {"X-Tenant": "group"}},
        )
        list(get_connector(conn).fetch(FetchSpec(resource="Users", key_field="id")))
        assert [query_of("?" + r.raw_query)["sap-client"] for r in scim.requests] == [["100"]] * 3
        assert {r.headers["X-Tenant"] for r in scim.requests} == {"group"}


def test_retry_after_is_read_as_seconds_or_an_http_date():
    now = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:45 GMT", now=now.timestamp()) == 45
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now=now.timestamp()) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_the_client_resolves_paths_against_the_base_url():
    client = HttpClient(make_connection("rest", "https://crm.example.com/v2"))
    assert client.url("/api/customers") == "https://crm.example.com/v2/api/customers"
    assert client.url("https://other.example.com/x") == "https://other.example.com/x"
    client.close()
