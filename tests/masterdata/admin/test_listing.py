"""The golden-record change lists: Django's markup (checkbox, rows, sidebar) written with less work per page."""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin import ModelAdmin, helpers
from django.template import Context, Template
from django.test import RequestFactory

from connectors.admin.failures import FailureQueueAdmin
from masterdata.admin.golden import GoldenRecordAdmin
from masterdata.admin.listing import FastActionCheckboxMixin, RowRenderer, costly_unshown_fields
from masterdata.admin.quality import ScopedQualityAdmin
from masterdata.admin.sources import SourceLinkAdmin
from masterdata.admin.worklist import WorklistAdmin
from masterdata.models import Customer, Supplier
from masterdata.registry import registry
from masterdata.templatetags import admin_nav
from tests.factories import CustomerFactory, SupplierFactory

from .conftest import admin_url, build_record, domain_params


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Alpha & Sons <GmbH>", 'Quote "Trading" Ltd.', "上海华瑞贸易有限公司"])
def test_the_checkbox_is_the_markup_django_renders(name):
    record = CustomerFactory(name=name)
    ours = django_admin.site._registry[Customer]
    assert isinstance(ours, FastActionCheckboxMixin)

    assert ours.action_checkbox(record) == ModelAdmin.action_checkbox(ours, record)


@pytest.mark.parametrize(
    "admin_class", [GoldenRecordAdmin, WorklistAdmin, SourceLinkAdmin, ScopedQualityAdmin, FailureQueueAdmin]
)
def test_the_steward_lists_use_it(admin_class):
    assert issubclass(admin_class, FastActionCheckboxMixin)


@pytest.mark.django_db
def test_a_change_list_page_loads_its_records_for_display_only(superuser_client):
    CustomerFactory(code="SHOWN-1")

    response = superuser_client.get("/admin/masterdata/customer/")

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown and all(record.__dict__.get("_for_display") for record in shown)


# --- the golden-record lists: rows, deferred columns, sidebar -------------------------------------
def _django_rows(cl) -> list[list[str]]:
    from django.contrib.admin.templatetags.admin_list import items_for_result

    return [[str(cell) for cell in items_for_result(cl, result, None)] for result in cl.result_list]


@pytest.mark.django_db
@pytest.mark.parametrize("domain_name", domain_params())
@pytest.mark.parametrize("query", ["", "?status__exact=active&o=-2.3&q=0"])
def test_the_rows_are_the_markup_django_renders(superuser_client, org, domain_name, query):
    domain = registry.get(domain_name)
    for n in range(3):
        build_record(domain, org.a, n)
    odd = build_record(domain, org.a, 3)
    type(odd).objects.filter(pk=odd.pk).update(name='Alpha & <Sons> "GmbH"')
    if domain.org_field not in (None, "pk"):
        type(odd).objects.filter(pk=odd.pk).update(**{domain.org_field: None})

    response = superuser_client.get(admin_url(domain.model_class, "changelist") + query)

    assert response.status_code == 200
    cl = response.context["cl"]
    assert len(cl.result_list) >= 3
    ours = RowRenderer(cl)
    assert [[str(cell) for cell in ours.items(result)] for result in cl.result_list] == _django_rows(cl)


@pytest.mark.django_db
def test_a_list_page_leaves_out_the_costly_columns_it_does_not_show(superuser_client, org):
    SupplierFactory(code="S-DEFER", bank_account="DE89370400440532013000", owner_org=org.a, attributes={"k": 1})

    response = superuser_client.get("/admin/masterdata/supplier/")

    record = next(r for r in response.context["cl"].result_list if r.code == "S-DEFER")
    assert {"bank_account", "attributes", "provenance", "locked_fields"} <= record.get_deferred_fields()
    assert "attributes" in record.owner_org.get_deferred_fields()
    assert "DE8937" not in response.content.decode()
    assert costly_unshown_fields(Supplier, {"bank_account"}) == ["attributes", "provenance", "locked_fields"]


@pytest.mark.django_db
def test_an_action_posted_from_the_list_works_on_full_records(superuser_client, org):
    record = SupplierFactory(code="S-ACT", bank_account="DE89370400440532013001", owner_org=org.a)

    response = superuser_client.post(
        "/admin/masterdata/supplier/",
        {"action": "deactivate_selected", helpers.ACTION_CHECKBOX_NAME: [record.pk]},
    )

    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.status, record.version, record.bank_account) == ("inactive", 2, "DE89370400440532013001")


def _sidebar_context(user, path: str) -> Context:
    request = RequestFactory().get(path)
    request.user = user
    return Context({"request": request, "available_apps": django_admin.site.get_app_list(request)})


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/", "/admin/masterdata/customer/", "/admin/masterdata/customer/7/change/",
                                  "/admin/auth/user/?q=x"])  # fmt: skip
def test_the_sidebar_is_the_one_django_renders_and_is_kept_per_menu(superuser, steward_a, path):
    django_way = Template('{% include "admin/nav_sidebar.html" %}')
    ours = Template("{% load admin_nav %}{% nav_sidebar %}")
    admin_nav._rendered.clear()

    for user in (superuser, steward_a):
        assert ours.render(_sidebar_context(user, path)) == django_way.render(_sidebar_context(user, path))
    assert ours.render(_sidebar_context(superuser, path)) != ours.render(_sidebar_context(steward_a, path))
    assert len(admin_nav._rendered) == 2  # one per menu: the second render of each came from memory


@pytest.mark.django_db
def test_a_stewards_scope_is_read_anew_each_time_though_its_query_is_built_once(steward_a, org):
    from masterdata.services import access

    in_b = CustomerFactory(code="C-IN-B", owner_org=org.b)
    customers = registry.get("customer")
    assert not access.restrict(steward_a, customers, Customer.objects.all()).filter(pk=in_b.pk).exists()

    access.grant(steward_a, "view", org.b)

    assert access.granted_unit_ids(steward_a, "view") is not access.granted_unit_ids(steward_a, "view")
    assert access.restrict(steward_a, customers, Customer.objects.all()).filter(pk=in_b.pk).exists()
