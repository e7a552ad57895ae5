"""The admin of connections (write-only secrets), mappings (validated, pull now), runs and failures."""

from __future__ import annotations

import json

import pytest

from connectors import tasks
from connectors.models import Connection, FailureStatus, Mapping, SyncFailure
from connectors.services import pipeline
from tests.connectors.fakes import CrmFake, data
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, crm_source, make_source
from tests.masterdata.admin.conftest import admin_url, browser

TOKEN = CrmFake.token


@pytest.fixture
def superuser_client(superuser):
    return browser(superuser)


def connection_form(connection: Connection, **changes) -> dict:
    data = {
        "source": connection.source_id, "protocol": connection.protocol, "base_url": connection.base_url,
        "auth_type": connection.auth_type, "username": connection.username, "secret": "",
        "api_key_header": connection.api_key_header, "token_url": "", "client_id": "", "client_secret": "",
        "scope": "", "timeout_seconds": connection.timeout_seconds, "page_size": connection.page_size,
        "rate_limit_per_second": "", "verify_tls": "on", "options": json.dumps(connection.options),
    }  # fmt: skip
    return data | changes


def test_the_connection_form_never_shows_the_stored_secret(seed_crm, superuser_client):
    connection = seed_crm.connection

    html = superuser_client.get(admin_url(Connection, "change", connection.pk)).content.decode()

    assert TOKEN not in html and connection.secret.to_stored() not in html
    assert "stored (encrypted)" in html
    assert '<input type="password" name="secret"' in html


def test_an_empty_secret_input_keeps_the_secret_and_a_new_value_replaces_it(seed_crm, superuser_client):
    connection = seed_crm.connection
    url = admin_url(Connection, "change", connection.pk)

    assert superuser_client.post(url, connection_form(connection, page_size=25)).status_code == 302
    connection.refresh_from_db()
    assert (connection.page_size, connection.secret.reveal()) == (25, TOKEN)

    superuser_client.post(url, connection_form(connection, secret="${ENV:CRM_TOKEN}"))
    connection.refresh_from_db()
    assert connection.secret.reference_name == "CRM_TOKEN"


def test_clearing_a_secret_the_authentication_needs_is_refused(seed_crm, superuser_client):
    connection = seed_crm.connection

    response = superuser_client.post(
        admin_url(Connection, "change", connection.pk), connection_form(connection, clear_secret="on")
    )

    assert response.status_code == 200
    assert "This authentication needs a secret." in response.content.decode()
    connection.refresh_from_db()
    assert connection.secret.reveal() == TOKEN


def test_a_mapping_with_an_unknown_golden_field_is_refused_with_the_entry_named(db, superuser_client):
    source = make_source("crm")
    form = {
        "source": source.pk, "domain": "customer", "is_active": "on", "fetch_spec": json.dumps(SEED_CRM_FETCH),
        "source_key": "", "field_map": json.dumps({"id": "code", "credit_score": "credit_ratng"}),
        "auto_link_score": "", "schedule": "", "reconcile_schedule": "",
    }  # fmt: skip

    response = superuser_client.post(admin_url(Mapping, "add"), form)

    assert response.status_code == 200
    assert "entry 2 (credit_score → credit_ratng): unknown golden field &#x27;credit_ratng&#x27; of customer" in (
        response.content.decode()
    )
    assert not Mapping.objects.exists()
    assert superuser_client.post(admin_url(Mapping, "add"), form | {"field_map": '{"id": "code"}'}).status_code == 302


def test_pull_now_queues_a_manual_pull_of_each_selected_mapping(seed_crm, superuser_client, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.pull, "delay", lambda *args, **kwargs: queued.append((args, kwargs)))
    mapping = Mapping.objects.get()

    response = superuser_client.post(
        admin_url(Mapping, "changelist"), {"action": "pull_now", "_selected_action": [mapping.pk]}
    )

    assert response.status_code == 302
    assert queued == [((seed_crm.pk, "customer"), {"full": False, "trigger": "manual"})]


def test_runs_states_and_failures_are_listed_and_failures_can_be_discarded(db, superuser_client):
    records = data.crm_customers(3)
    records[0]["last_order_date"] = "never"
    with CrmFake(records) as crm:
        pipeline.pull(crm_source(crm), "customer")
    failure = SyncFailure.objects.get()

    for model in ("syncrun", "syncstate", "syncfailure", "mapping", "connection"):
        assert superuser_client.get(f"/admin/connectors/{model}/", follow=True).status_code == 200
    detail = superuser_client.get(admin_url(SyncFailure, "change", failure.pk)).content.decode()
    assert "never" in detail and "last_transaction_date" in detail

    superuser_client.post(
        admin_url(SyncFailure, "changelist"),
        {"action": "discard", "_selected_action": [failure.pk], "apply": "yes", "reason": "obsolete"},
    )

    failure.refresh_from_db()
    assert failure.status == FailureStatus.DISCARDED and failure.closed_by.username == "admin"


def test_checking_a_connection_reports_what_the_source_answered(seed_crm, superuser_client):
    response = superuser_client.post(
        admin_url(Connection, "changelist"),
        {"action": "check_connections", "_selected_action": [seed_crm.connection.pk]},
        follow=True,
    )

    shown = [(message.level_tag, str(message)) for message in response.context["messages"]]
    assert len(shown) == 1 and shown[0][0] == "success" and shown[0][1].startswith("crm (REST/JSON): ")
