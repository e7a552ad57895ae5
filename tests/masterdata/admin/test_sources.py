"""Source systems (integration settings behind plain model permissions) and source links (scoped like their records)."""

from __future__ import annotations

import pytest

from masterdata.models import AuditAction, AuditEvent, Employee, SourceDomain, SourceLink, SourceSystem, SyncDirection
from masterdata.services import access

from .conftest import admin_url, browser, grant_model_perms


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


# --- a link carries its source's record: scoped like the golden record ----------------------------
@pytest.fixture
def links_of_both_companies(erp, customers):
    """A link for company A's customer and one for company B's, each with a payload naming its firm."""
    made = {}
    for side in ("a", "b"):
        record = getattr(customers, side)
        payload = {"KUNNR": record.code, "NAME1": record.name}
        made[side] = SourceLink.objects.create(
            source=erp, domain="customer", source_key=record.code, golden_id=record.pk, last_payload=payload,
            payload_hash=SourceLink.hash_payload(payload),
        )  # fmt: skip
    return made


def test_a_steward_granted_the_link_list_sees_only_links_of_records_in_scope(steward_a, links_of_both_companies):
    grant_model_perms(steward_a, "view_sourcelink")
    client = browser(steward_a)

    listed = client.get(admin_url(SourceLink, "changelist"))
    searched = client.get(admin_url(SourceLink, "changelist"), {"q": "CB-1"})
    by_url = client.get(admin_url(SourceLink, "change", links_of_both_companies["b"].pk))
    own = client.get(admin_url(SourceLink, "change", links_of_both_companies["a"].pk))

    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [links_of_both_companies["a"]]
    assert list(searched.context["cl"].result_list) == []
    assert by_url.status_code == 302  # the admin's "does not exist": out of scope looks like missing
    assert own.status_code == 200 and "Alpha Trading" in own.content.decode()


def test_a_link_payload_masks_sensitive_values_the_viewer_may_not_see(steward_a, erp, org):
    grant_model_perms(steward_a, "view_sourcelink", "view_employee")
    person = Employee.objects.create(code="E-77", name="Erika Muster", org_unit=org.a, national_id="DE-ID-123456")
    payload = {"id": "W77", "displayName": "Erika Muster", "nationalId": "DE-ID-123456"}
    link = SourceLink.objects.create(
        source=erp, domain="employee", source_key="W77", golden_id=person.pk, last_payload=payload,
        payload_hash=SourceLink.hash_payload(payload),
    )  # fmt: skip

    hidden = browser(steward_a).get(admin_url(link, "change", link.pk)).content.decode()
    refused = browser(steward_a).post(admin_url(link, "reveal", link.pk))
    access.grant(steward_a, "view_sensitive", org.a)
    masked_first = browser(steward_a).get(admin_url(link, "change", link.pk)).content.decode()
    revealed = browser(steward_a).post(admin_url(link, "reveal", link.pk)).content.decode()

    assert "Erika Muster" in hidden and "DE-ID-123456" not in hidden
    assert "Reveal sensitive values (audited)" not in hidden and refused.status_code == 403
    assert "DE-ID-123456" not in masked_first and "Reveal sensitive values (audited)" in masked_first
    assert "DE-ID-123456" in revealed
    [event] = AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED)
    assert (event.actor, event.object_id, event.detail["via"]) == (steward_a, str(person.pk), "admin source link")


def test_a_reveal_is_a_post_and_a_page_view_is_never_audited(superuser_client, erp, org):
    person = Employee.objects.create(code="E-78", name="Max Muster", org_unit=org.a, national_id="DE-ID-999")
    payload = {"id": "W78", "nationalId": "DE-ID-999"}
    link = SourceLink.objects.create(source=erp, domain="employee", source_key="W78", golden_id=person.pk,
                                     last_payload=payload, payload_hash=SourceLink.hash_payload(payload))  # fmt: skip

    page = superuser_client.get(admin_url(link, "change", link.pk)).content.decode()
    by_get = superuser_client.get(admin_url(link, "reveal", link.pk))

    assert "DE-ID-999" not in page and by_get.status_code == 405
    assert not AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED).exists()
