"""The registry drives the admin: every registered domain, the sixth ('plant') included, just works."""

from __future__ import annotations

import pytest
from django.contrib import admin

from masterdata.admin.golden import GoldenRecordAdmin
from masterdata.registry import registry

from .conftest import admin_url, build_record, domain_params


def form_data(response) -> dict:
    """What a browser would post back from a rendered admin form, unchanged."""
    form = response.context["adminform"].form
    return {name: value for name in form.fields if (value := form[name].value()) is not None}


def test_the_sixth_domain_from_the_test_settings_is_registered():
    assert "plant" in registry


@pytest.mark.parametrize("domain_name", domain_params())
def test_every_domain_is_registered_with_the_golden_record_admin(domain_name):
    model_admin = admin.site.get_model_admin(registry.get(domain_name).model_class)

    assert isinstance(model_admin, GoldenRecordAdmin)
    assert model_admin.domain is registry.get(domain_name)


@pytest.mark.parametrize("domain_name", domain_params())
def test_every_domain_has_a_working_changelist_with_its_registry_columns(superuser_client, org, domain_name):
    domain = registry.get(domain_name)
    record = build_record(domain, org.a, 1)

    response = superuser_client.get(admin_url(domain.model_class, "changelist"))

    assert response.status_code == 200
    assert list(response.context["cl"].list_display) == ["action_checkbox", *domain.list_display]
    html = response.content.decode()
    assert record.code in html
    for name in domain.list_display:
        value = getattr(record, name)
        if hasattr(value, "pk"):
            assert str(value) in html, f"{name} column does not show {value}"


@pytest.mark.parametrize("domain_name", domain_params())
def test_every_domain_has_working_change_add_and_history_pages(superuser_client, org, domain_name):
    domain = registry.get(domain_name)
    record = build_record(domain, org.a, 1)
    version = record.history.latest("history_id")

    pages = {
        "change": admin_url(record, "change", record.pk),
        "add": admin_url(record, "add"),
        "history": admin_url(record, "history", record.pk),
        "version": admin_url(record, "simple_history", record.pk, version.history_id),
    }

    statuses = {page: superuser_client.get(url).status_code for page, url in pages.items()}
    assert statuses == dict.fromkeys(pages, 200)


@pytest.mark.parametrize("domain_name", domain_params())
def test_every_domain_can_be_edited_in_its_admin(superuser_client, org, domain_name):
    domain = registry.get(domain_name)
    record = build_record(domain, org.a, 1)
    url = admin_url(record, "change", record.pk)
    data = form_data(superuser_client.get(url)) | {"name": "Renamed in the admin", "change_reason": "typo"}

    response = superuser_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    record.refresh_from_db()
    assert (record.name, record.version) == ("Renamed in the admin", 2)


def test_a_plant_is_added_through_its_admin(superuser_client, org):
    plant_model = registry.get("plant").model_class
    url = admin_url(plant_model, "add")
    data = form_data(superuser_client.get(url))
    data |= {"code": "PL-1", "name": "Suzhou plant", "site_country": "CN", "owner_org": org.a.pk}

    response = superuser_client.post(url, data | {"change_reason": "new plant"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    plant = plant_model.objects.get(code="PL-1")
    assert (plant.owner_org, plant.version) == (org.a, 1)
    assert plant.history.get().history_change_reason == "new plant"
