"""Source systems and links: integration settings behind plain model permissions."""

from __future__ import annotations

import pytest

from masterdata.models import SourceDomain, SourceLink, SourceSystem, SyncDirection

from .conftest import admin_url, browser


@pytest.fixture
def erp(db):
    source = SourceSystem.objects.create(code="sap", name="SAP S/4HANA", kind="erp")
    SourceDomain.objects.create(source=source, domain="customer", direction=SyncDirection.BOTH, trust_rank=80)
    return source


@pytest.fixture
def link(erp, customers):
    payload = {"KUNNR": "0001", "NAME1": "Alpha Trading"}
    return SourceLink.objects.create(
        source=erp,
        domain="customer",
        source_key="0001",
        golden_id=customers.a.pk,
        last_payload=payload,
        payload_hash=SourceLink.hash_payload(payload),
    )


@pytest.mark.parametrize("model", [SourceSystem, SourceLink])
def test_stewards_do_not_get_source_systems_or_links(steward_a_client, model):
    assert steward_a_client.get(admin_url(model, "changelist")).status_code == 403


def test_source_system_list_shows_its_domains_direction_and_trust(integrator, erp):
    response = browser(integrator).get(admin_url(SourceSystem, "changelist"))

    assert response.status_code == 200
    assert "customer (both, trust 80)" in response.content.decode()


def test_source_system_change_page_edits_its_domains_inline(superuser_client, erp):
    response = superuser_client.get(admin_url(erp, "change", erp.pk))

    assert response.status_code == 200
    assert "domains-0-trust_rank" in response.content.decode()


def test_source_link_list_links_to_the_golden_record(integrator, link, customers):
    response = browser(integrator).get(admin_url(SourceLink, "changelist"))

    html = response.content.decode()
    assert f'href="{admin_url(customers.a, "change", customers.a.pk)}"' in html
    assert "customer CA-1" in html


def test_source_link_list_marks_a_link_whose_golden_record_is_missing(integrator, erp):
    SourceLink.objects.create(source=erp, domain="customer", source_key="ghost", golden_id=987654)

    response = browser(integrator).get(admin_url(SourceLink, "changelist"))

    assert "customer #987654 (missing)" in response.content.decode()


def test_source_link_page_shows_payload_and_golden_record_read_only(superuser_client, link, customers):
    response = superuser_client.get(admin_url(link, "change", link.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert "KUNNR" in html
    assert str(customers.a) in html
    assert "last_payload" not in response.context["adminform"].form.fields


def test_source_link_cannot_point_at_a_golden_record_that_does_not_exist(superuser_client, erp):
    data = {"source": erp.pk, "domain": "customer", "source_key": "0009", "golden_id": 987654, "status": "active"}

    response = superuser_client.post(admin_url(SourceLink, "add"), data)

    assert response.status_code == 200
    assert "There is no customer with id 987654" in response.content.decode()
    assert not SourceLink.objects.filter(source_key="0009").exists()
