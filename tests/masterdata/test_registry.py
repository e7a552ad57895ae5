"""The domain registry: one entry per domain, and everything else follows it.

``tests.sixth_domain`` adds a throwaway domain (plants) the way a real one is added: a model
and one registry entry. These tests prove routes, admin, history and serializer follow.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import resolve, reverse
from rest_framework import serializers

from masterdata.admin.golden import GoldenRecordAdmin
from masterdata.models import Customer, Employee, Material, OrgUnit, SourceDomain, SourceLink, Supplier
from masterdata.registry import Domain, DomainRegistry, domain_choices, registry
from tests.sixth_domain.models import Plant

FIVE_DOMAINS = {
    # name: (model, api path, business key, match keys, owning org unit field)
    "customer": (Customer, "customers", "code", ("code", "tax_id", "email"), "owner_org"),
    "supplier": (Supplier, "suppliers", "code", ("code", "tax_id", "contact_email"), "owner_org"),
    "material": (Material, "materials", "code", ("code",), None),
    "org_unit": (OrgUnit, "org-units", "code", ("code",), "pk"),
    "employee": (Employee, "employees", "code", ("code", "email"), "org_unit"),
}


@pytest.mark.parametrize("name", FIVE_DOMAINS)
def test_registry_lists_the_five_domains_of_the_design_with_their_keys(name):
    model, api_path, business_key, match_keys, org_field = FIVE_DOMAINS[name]
    domain = registry.get(name)
    assert domain.model_class is model
    assert domain.api_path == api_path
    assert domain.business_key == business_key
    assert domain.match_keys == match_keys
    assert domain.org_field == org_field


def test_the_five_domains_come_first_in_design_order_and_the_test_domain_after_them():
    names = [domain.name for domain in registry]
    assert names[:5] == list(FIVE_DOMAINS)
    assert "plant" in names


def test_sensitive_fields_are_declared_where_the_design_says_so():
    assert registry.get("supplier").sensitive_fields == ("bank_account",)
    assert registry.get("employee").sensitive_fields == ("national_id",)


@pytest.mark.parametrize("domain", list(registry), ids=lambda d: d.name)
def test_every_registered_field_reference_names_a_real_model_field(domain):
    model = domain.model_class
    referenced = {domain.business_key, *domain.match_keys, *domain.fuzzy_fields, *domain.filter_fields}
    referenced |= {name for name in domain.search_fields}
    if domain.org_field not in (None, "pk"):
        referenced.add(domain.org_field)
    for name in referenced:
        model._meta.get_field(name)  # raises FieldDoesNotExist for a typo


def test_sixth_domain_gets_list_and_detail_routes_from_its_registry_entry():
    assert reverse("plant-list") == "/api/v1/plants/"
    assert reverse("plant-detail", kwargs={"pk": 7}) == "/api/v1/plants/7/"
    match = resolve("/api/v1/plants/")
    assert match.func.cls.domain is registry.get("plant")


def test_sixth_domain_is_registered_in_the_admin_with_the_generic_golden_record_admin():
    assert admin.site.is_registered(Plant)
    model_admin = admin.site._registry[Plant]
    assert isinstance(model_admin, GoldenRecordAdmin)
    assert model_admin.domain is registry.get("plant")


def test_sixth_domain_has_a_history_model_with_the_source_system_column():
    history_model = Plant.history.model
    field_names = {f.name for f in history_model._meta.get_fields()}
    assert {"history_user", "history_change_reason", "history_source", "history_date"} <= field_names
    assert history_model._meta.db_table == "sixth_domain_historicalplant"


def test_sixth_domain_serializer_is_derived_from_its_model():
    serializer_class = registry.get("plant").serializer_class
    assert issubclass(serializer_class, serializers.ModelSerializer)
    assert serializer_class.Meta.model is Plant
    assert {"code", "name", "site_country", "owner_org", "version"} <= set(serializer_class().fields)


def test_registering_a_second_domain_on_a_used_api_path_is_refused():
    with pytest.raises(ValueError, match="already used by customer"):
        registry.register(Domain(name="client", model="sixth_domain.Plant", api_path="customers"))
    assert "client" not in registry


def test_registering_a_second_domain_for_a_used_model_is_refused():
    with pytest.raises(ValueError, match="already the model of plant"):
        registry.register(Domain(name="factory", model="sixth_domain.Plant", api_path="factories"))
    assert "factory" not in registry


def test_registering_the_same_name_differently_is_refused_but_repeating_an_entry_is_harmless():
    plant = registry.get("plant")
    assert registry.register(plant) is plant
    with pytest.raises(ValueError, match="already registered differently"):
        registry.register(Domain(name="plant", model="sixth_domain.Plant", api_path="works"))
    assert registry.get("plant") is plant


def test_domains_are_looked_up_by_name_and_by_model():
    assert registry.get("plant").model_class is Plant
    assert registry.for_model(Plant) is registry.get("plant")
    assert registry.for_model(Customer).name == "customer"


def test_unknown_names_and_models_raise_lookup_errors_that_say_what_is_known():
    with pytest.raises(LookupError, match="customer"):
        registry.get("planet")
    with pytest.raises(LookupError):
        registry.for_model(SourceLink)


def test_domains_can_be_used_as_set_members_and_dict_keys():
    domains = {registry.get("customer"), registry.get("customer"), registry.get("plant")}
    assert len(domains) == 2


def test_a_fresh_registry_is_empty_and_unregister_removes_an_entry():
    local = DomainRegistry()
    local.register(registry.get("plant"))
    assert len(local) == 1
    local.unregister("plant")
    assert "plant" not in local


def test_domain_choices_are_computed_when_asked_and_include_the_sixth_domain():
    assert ("plant", "plant") in domain_choices()
    assert ("org_unit", "org unit") in domain_choices()
    field = SourceDomain._meta.get_field("domain")
    assert ("plant", "plant") in list(field.choices)


@pytest.mark.django_db
def test_a_new_domain_needs_no_migration_of_the_masterdata_app():
    # The domain columns take their choices from a callable, so the sixth domain changed nothing.
    call_command("makemigrations", "masterdata", check=True, dry_run=True, verbosity=0)
