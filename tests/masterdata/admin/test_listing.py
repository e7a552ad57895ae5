"""The change lists' action checkbox is written without a widget template, and is Django's markup."""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin import ModelAdmin

from connectors.admin.failures import FailureQueueAdmin
from masterdata.admin.golden import GoldenRecordAdmin
from masterdata.admin.listing import FastActionCheckboxMixin
from masterdata.admin.quality import ScopedQualityAdmin
from masterdata.admin.sources import SourceLinkAdmin
from masterdata.admin.worklist import WorklistAdmin
from masterdata.models import Customer
from tests.factories import CustomerFactory


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
