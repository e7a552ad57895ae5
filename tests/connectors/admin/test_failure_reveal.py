"""A failure's sensitive payload values: masked on the item and the edit form until revealed (audited).

An authorised steward still corrects a refused supplier and retries it: a sensitive value left
empty is kept; after a reveal the form shows it and it can be corrected too.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import FailureStatus
from masterdata.models import AuditAction, AuditEvent, Supplier
from tests.conftest import make_steward
from tests.connectors.admin.conftest import queued
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, make_source, map_source
from tests.factories import SupplierFactory
from tests.masterdata.admin.conftest import admin_url, browser

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"
BUTTON = "Reveal sensitive values (audited)"


@pytest.fixture
def refused_supplier(org):
    """A supplier update the hub refused (its name is too long) — its payload carries the bank account."""
    source = make_source("erp", domain="supplier")
    map_source(source, "supplier", SEED_CRM_FETCH, {"id": "code", "name": "name", "iban": "bank_account"})
    supplier = SupplierFactory(code="S-1", name="Acme", owner_org=org.a, bank_account=IBAN)
    payload = {"id": "S-1", "name": "x" * 300, "iban": IBAN, "Bankverbindung": IBAN}
    errors = {"name": ["Ensure this value has at most 200 characters."]}
    return queued(source, golden=supplier, key="S-1", domain="supplier", payload=payload, errors=errors)


@pytest.fixture
def revealer(org, stewards_group):
    return make_steward("revealer", org.a, stewards_group, actions=("view", "change", "resolve", "view_sensitive"))


@pytest.fixture
def resolver(org, stewards_group):
    return make_steward("resolver", org.a, stewards_group, actions=("view", "change", "resolve"))


def reveals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED))


def test_the_item_masks_every_sensitive_value_even_under_an_unmapped_name_until_revealed(revealer, refused_supplier):
    client = browser(revealer)

    masked = client.get(admin_url(refused_supplier, "change", refused_supplier.pk)).content.decode()
    assert IBAN not in masked and BUTTON in masked and not reveals()

    revealed = client.post(reverse("admin:connectors_syncfailure_reveal", args=[refused_supplier.pk]))

    assert revealed.status_code == 200 and IBAN in revealed.content.decode()
    [event] = reveals()
    assert (event.actor, event.object_type, event.object_id) == (revealer, "masterdata.supplier",
                                                                  str(refused_supplier.golden_id))  # fmt: skip
    assert event.detail["failure"] == refused_supplier.pk
    assert event.detail["via"] == "admin failure" and event.detail["fields"] == ["bank_account"]


def test_a_resolver_without_the_scope_may_not_reveal(resolver, refused_supplier):
    client = browser(resolver)

    page = client.get(admin_url(refused_supplier, "change", refused_supplier.pk)).content.decode()
    refused = client.post(reverse("admin:connectors_syncfailure_reveal", args=[refused_supplier.pk]))

    assert IBAN not in page and BUTTON not in page
    assert refused.status_code == 403 and not reveals()


def test_edit_and_retry_keeps_a_hidden_value_and_shows_it_only_after_a_reveal(revealer, refused_supplier):
    edit = reverse("admin:connectors_syncfailure_edit", args=[refused_supplier.pk])
    client = browser(revealer)

    form = client.get(edit).content.decode()
    revealed = client.post(edit, {"_reveal": "1", "reason": ""}).content.decode()
    assert IBAN not in form and BUTTON in form
    assert IBAN in revealed and refused_supplier.status == FailureStatus.OPEN
    [event] = reveals()
    assert event.detail["via"] == "admin failure edit"

    client.post(edit, {"value:id": "S-1", "value:name": "Acme Metals", "value:iban": "", "reason": "name shortened"})

    refused_supplier.refresh_from_db()
    assert refused_supplier.status == FailureStatus.RESOLVED
    record = Supplier.objects.get(code="S-1")
    assert (record.name, record.bank_account) == ("Acme Metals", IBAN)  # left empty: kept as the source sent it
