"""Comparing and merging suppliers masks their bank accounts first, even for users who may read them.

As on every workspace screen: *Reveal sensitive values (audited)* is a POST, shows the clear
values once and writes one audit event per record; a merge chooses a side by its radio button
and needs no clear value.
"""

from __future__ import annotations

import pytest

from masterdata.models import AuditAction, AuditEvent, DuplicateSuspect, MergeRecord, Supplier, SuspectStatus
from masterdata.registry import registry
from masterdata.services import access, merge
from tests.factories import SupplierFactory

from .conftest import admin_url, browser

IBAN_A, IBAN_B = "DE89370400440532013000", "DE02120300000000202051"
REVEAL = {"_reveal": "1"}


@pytest.fixture
def holder(steward_a, org):
    """A steward of company A who may resolve there and read sensitive values."""
    for action in ("resolve", "view_sensitive"):
        access.grant(steward_a, action, org.a)
    return steward_a


@pytest.fixture
def pair(org):
    a = SupplierFactory(code="S-A", name="Acme Bearings", owner_org=org.a, bank_account=IBAN_A)
    b = SupplierFactory(code="S-B", name="Acme Bearings GmbH", owner_org=org.a, bank_account=IBAN_B)
    low, high = sorted((a.pk, b.pk))
    suspect = DuplicateSuspect.objects.create(domain="supplier", golden_id_a=low, golden_id_b=high, score=95,
                                              reasons={"fuzzy": {"name": 95}}, owner_org=org.a)  # fmt: skip
    return type("Pair", (), {"a": a, "b": b, "suspect": suspect})


def reveals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED).order_by("id"))


def compare_url(pair) -> str:
    return admin_url(DuplicateSuspect, "change", pair.suspect.pk)


def test_the_compare_page_masks_bank_accounts_for_a_holder_until_they_reveal(holder, pair):
    client = browser(holder)

    page = client.get(compare_url(pair)).content.decode()
    revealed = client.post(compare_url(pair), REVEAL).content.decode()

    assert IBAN_A not in page and IBAN_B not in page and "Reveal sensitive values (audited)" in page
    assert IBAN_A in revealed and IBAN_B in revealed and "this reveal is recorded" in revealed
    assert [(e.actor, e.object_id, e.detail["via"]) for e in reveals()] == [
        (holder, str(pair.a.pk), "admin duplicate compare"), (holder, str(pair.b.pk), "admin duplicate compare"),
    ]  # fmt: skip
    pair.suspect.refresh_from_db()
    assert pair.suspect.status == SuspectStatus.OPEN  # the button decided nothing


def test_a_steward_without_the_scope_gets_no_button_and_a_crafted_reveal_shows_nothing(steward_a, org, pair):
    access.grant(steward_a, "resolve", org.a)

    page = browser(steward_a).get(compare_url(pair)).content.decode()
    crafted = browser(steward_a).post(compare_url(pair), REVEAL).content.decode()

    assert "Reveal sensitive values" not in page
    assert IBAN_A not in crafted and IBAN_B not in crafted and reveals() == []


def test_a_merge_takes_the_other_bank_account_by_its_radio_button_without_seeing_it(holder, pair):
    data = {"survivor": "a", "reason": "same supplier", "_merge": "Merge"}
    for name in merge.mergeable_fields(registry.get("supplier")):
        data[f"take_{name}"] = "b" if name == "bank_account" else "a"
    survivor = pair.a if pair.a.pk == pair.suspect.golden_id_a else pair.b
    other = pair.b if survivor is pair.a else pair.a

    response = browser(holder).post(compare_url(pair), data)

    assert response.status_code == 302
    assert Supplier.objects.get(pk=survivor.pk).bank_account == other.bank_account
    assert reveals() == []


@pytest.fixture
def merged(holder, pair):
    survivor, loser = (pair.a, pair.b) if pair.a.pk == pair.suspect.golden_id_a else (pair.b, pair.a)
    return merge.merge(registry.get("supplier"), survivor, loser, {"bank_account": merge.LOSER}, holder, "same",
                       suspect=pair.suspect)  # fmt: skip


def test_the_merge_page_masks_the_values_before_the_merge_until_revealed(holder, merged):
    record = merged
    client = browser(holder)
    url = admin_url(MergeRecord, "change", record.pk)

    page = client.get(url).content.decode()
    revealed = client.post(url, REVEAL).content.decode()

    assert IBAN_A not in page and IBAN_B not in page and "Reveal sensitive values (audited)" in page
    assert IBAN_A in revealed and IBAN_B in revealed
    assert {e.detail["via"] for e in reveals()} == {"admin merge"} and len(reveals()) == 2
    record.refresh_from_db()
    assert record.status == "merged"  # revealing is no unmerge
