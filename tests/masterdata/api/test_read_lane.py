"""A server started as the read lane answers API reads only; a misrouted write or admin page gets a loud 421."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from masterdata.models import Customer
from tests.test_settings import manage, production_env

pytestmark = pytest.mark.django_db

READ_LANE = override_settings(MDM_SERVER_LANE="read")


def test_the_read_lane_serves_the_api_reads(api_admin, customers):
    with READ_LANE:
        listed = api_admin.get("/api/v1/customers/")
        detail = api_admin.get(f"/api/v1/customers/{customers.a.pk}/")
        history = api_admin.get(f"/api/v1/customers/{customers.a.pk}/history/")

    assert [listed.status_code, detail.status_code, history.status_code] == [200, 200, 200]
    assert detail.json()["code"] == customers.a.code


def test_the_read_lane_answers_the_operators_probes():
    with READ_LANE:
        assert Client().get("/health/").status_code == 200


def test_a_write_sent_to_the_read_lane_is_refused_and_writes_nothing(api_admin, org):
    with READ_LANE:
        response = api_admin.post(
            "/api/v1/customers/", {"code": "C-LANE", "name": "Lane", "owner_org": "A"}, format="json"
        )

    assert response.status_code == 421
    assert response.json()["code"] == "misdirected_request"
    assert "main server" in response.json()["detail"]
    assert not Customer.objects.filter(code="C-LANE").exists()


def test_an_ingest_post_sent_to_the_read_lane_is_refused_before_authentication(api_admin):
    with READ_LANE:
        response = api_admin.post(
            "/api/v1/ingest/crm/customer/", [{"id": "C1"}], format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )

    assert response.status_code == 421


def test_admin_pages_are_not_served_by_the_read_lane(admin_client):
    with READ_LANE:
        assert admin_client.get("/admin/").status_code == 421
        assert Client().get("/admin/login/").status_code == 421


def test_a_server_without_a_lane_serves_everything(api_admin, org):
    response = api_admin.post("/api/v1/customers/", {"code": "C-MAIN", "name": "Main", "owner_org": "A"}, format="json")

    assert response.status_code == 201


def test_an_unknown_lane_stops_the_server_from_starting(tmp_path):
    result = manage("check", tmp_path=tmp_path, **production_env(), MDM_SERVER_LANE="fast")

    assert result.returncode != 0
    assert "MDM_SERVER_LANE must be empty or 'read'" in result.stderr
