"""/api/v1/<domain>/<id>/links/: where a golden record lives in the source systems."""

from __future__ import annotations

import pytest
from django.utils import timezone

from masterdata.models import SourceLink
from tests.factories import SourceSystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(customers, org):
    sap, crm = SourceSystemFactory(code="sap"), SourceSystemFactory(code="crm")
    payload = {"KUNNR": "0000100001", "NAME1": "Alpha Trading"}
    SourceLink.objects.create(
        source=sap,
        domain="customer",
        source_key="0000100001",
        golden_id=customers.a.pk,
        last_payload=payload,
        payload_hash=SourceLink.hash_payload(payload),
        last_seen_at=timezone.now(),
        last_pushed_version=1,
    )
    SourceLink.objects.create(source=crm, domain="customer", source_key="acc-17", golden_id=customers.a.pk)
    SourceLink.objects.create(source=crm, domain="supplier", source_key="sup-1", golden_id=customers.a.pk)
    return customers.a


def test_links_list_the_records_keys_in_every_source(api_a, linked):
    response = api_a.get(f"/api/v1/customers/{linked.pk}/links/")

    assert response.status_code == 200
    links = {(row["source"], row["source_key"]): row for row in response.json()}
    assert set(links) == {("sap", "0000100001"), ("crm", "acc-17")}  # not the supplier with the same id
    sap = links["sap", "0000100001"]
    assert sap["last_payload"] == {"KUNNR": "0000100001", "NAME1": "Alpha Trading"}
    assert (sap["domain"], sap["status"], sap["last_pushed_version"]) == ("customer", "active", 1)
    assert len(sap["payload_hash"]) == 64


def test_a_record_without_links_has_an_empty_list(api_a, customers):
    response = api_a.get(f"/api/v1/customers/{customers.a_sales.pk}/links/")

    assert response.status_code == 200
    assert response.json() == []


def test_links_are_read_only(api_a, linked):
    response = api_a.post(f"/api/v1/customers/{linked.pk}/links/", {"source_key": "x"}, format="json")

    assert response.status_code == 405
