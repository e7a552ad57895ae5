"""Workspace screens mask sensitive values even for users who may read them, until they press Reveal.

Each reveal is a POST and writes one audit event naming the user, the record, the fields and the
screen; a user without the ``view_sensitive`` scope is offered no button and a forged POST
reveals nothing and audits nothing.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from masterdata.models import AuditAction, AuditEvent, Conflict, ConflictStatus, SourceLink, SourceSystem
from masterdata.services import golden
from tests.conftest import make_steward
from tests.factories import SupplierFactory

from .conftest import admin_url, browser

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"
OTHER_IBAN = "GB29NWBK60161331926819"
BUTTON = "Reveal sensitive values (audited)"


@pytest.fixture
def supplier(org):
    return SupplierFactory(code="SA-1", name="Alpha Steel", owner_org=org.a, bank_account=IBAN)


@pytest.fixture
def revealer(org, stewards_group):
    return make_steward("revealer_a", org.a, stewards_group, actions=("view", "change", "resolve", "view_sensitive"))


@pytest.fixture
def steward(org, stewards_group):
    return make_steward("steward_a", org.a, stewards_group, actions=("view", "change", "resolve"))


def reveals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED))


def test_the_record_page_masks_until_revealed_then_shows_values_and_payloads_once_audited(revealer, supplier):
    erp = SourceSystem.objects.create(code="erp", name="ERP")
    SourceLink.objects.create(
        source=erp, domain="supplier", source_key="L-1", golden_id=supplier.pk, last_payload={"BANKN": IBAN}
    )
    url = admin_url(supplier, "record", supplier.pk)
    client = browser(revealer)

    masked = client.get(url).content.decode()
    assert IBAN not in masked and BUTTON in masked and not reveals()

    revealed = client.post(url, {"_reveal": "1"}).content.decode()

    assert IBAN in revealed and "&quot;BANKN&quot;" in revealed and BUTTON not in revealed
    [event] = reveals()
    assert (event.actor, event.object_id, event.org_unit_id) == (revealer, str(supplier.pk), supplier.owner_org_id)
    assert (event.detail["fields"], event.detail["via"]) == (["bank_account"], "admin record page")


def test_a_steward_without_the_scope_gets_no_button_and_a_forged_reveal_shows_and_audits_nothing(steward, supplier):
    url = admin_url(supplier, "record", supplier.pk)
    client = browser(steward)

    page = client.get(url).content.decode()
    forged = client.post(url, {"_reveal": "1"}).content.decode()

    assert BUTTON not in page and IBAN not in page
    assert IBAN not in forged and not reveals()


def test_the_version_diff_masks_until_revealed(revealer, supplier):
    golden.update(supplier, {"bank_account": OTHER_IBAN}, golden.ChangeContext(reason="new bank"))
    older, newer = supplier.history.order_by("history_id")
    url = admin_url(supplier, "diff", supplier.pk) + f"?from={older.history_id}&to={newer.history_id}"
    client = browser(revealer)

    masked = client.get(url).content.decode()
    revealed = client.post(url, {"_reveal": "1"}).content.decode()

    assert IBAN not in masked and OTHER_IBAN not in masked and BUTTON in masked
    assert IBAN in revealed and OTHER_IBAN in revealed
    [event] = reveals()
    assert event.detail["via"] == "admin version diff"


def test_the_conflict_page_masks_candidates_until_revealed_and_the_reveal_decides_nothing(revealer, supplier):
    conflict = Conflict.objects.create(
        domain="supplier", golden_id=supplier.pk, field="bank_account", reason="equal_trust", golden_value=IBAN,
        owner_org=supplier.owner_org,
        candidates=[{"source": "erp", "value": IBAN, "trust": 50}, {"source": "bank", "value": OTHER_IBAN}],
    )  # fmt: skip
    url = reverse("admin:masterdata_conflict_change", args=[conflict.pk])
    client = browser(revealer)

    masked = client.get(url).content.decode()
    revealed = client.post(url, {"_reveal": "1", "choice": "1", "reason": "x"}).content.decode()

    assert OTHER_IBAN not in masked and BUTTON in masked
    assert OTHER_IBAN in revealed and IBAN in revealed
    assert Conflict.objects.get(pk=conflict.pk).status == ConflictStatus.OPEN  # a reveal is not a decision
    [event] = reveals()
    assert (event.actor, event.detail["via"], event.detail["fields"]) == (revealer, "admin conflict", ["bank_account"])
