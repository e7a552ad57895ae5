"""A sensitive field can be an identity key: exact matching compares blind indexes, never clear text.

No real domain matches on a sensitive field today; the registry allows it (an employee's national
id, a supplier's bank account), so these tests build a supplier entry that does. The column holds
``<blind index>$<ciphertext>``: a match must go through the index, and, like every exact lookup
on a sensitive field, ignore blanks and letter case.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from masterdata.models import SourceLink, SourceSystem, Supplier
from masterdata.registry import registry
from masterdata.services import bulk_sql, matching
from masterdata.services.ingest import ingest_batch
from tests.factories import SupplierFactory

from .conftest import incoming, take_part

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"
IBAN_AS_TYPED = "de89 3704 0044 0532 0130 00"


@pytest.fixture
def by_bank_account():
    """The supplier domain, identified by code, then by bank account."""
    return replace(registry.get("supplier"), match_keys=("code", "bank_account"))


@pytest.fixture
def bank(db):
    source = SourceSystem.objects.create(code="bank", name="House bank", kind="other")
    take_part(source, "supplier", 60)
    return source


@pytest.mark.parametrize("fast", [True, False], ids=["postgresql-path", "orm-path"])
def test_an_exact_match_on_a_sensitive_key_goes_through_the_blind_index(by_bank_account, monkeypatch, fast):
    if not fast:
        monkeypatch.setattr(bulk_sql, "fast", lambda: False)
    owner = SupplierFactory(code="S-1", name="Gamma Metals", bank_account=IBAN)
    SupplierFactory(code="S-2", name="Delta Tools", bank_account="GB29NWBK60161331926819")

    found = matching.exact_matches(by_bank_account, {0: {"code": "X-9", "bank_account": IBAN_AS_TYPED}, 1: {}})

    assert found == {0: (owner.pk, "bank_account")}


def test_a_source_record_with_a_known_bank_account_links_to_its_golden_record(by_bank_account, bank):
    owner = SupplierFactory(code="S-1", name="Gamma Metals", bank_account=IBAN)

    result = ingest_batch(
        bank, by_bank_account, [incoming("B-7", code="BANK-7", name="Zeta", bank_account=IBAN_AS_TYPED)]
    )

    assert result.outcomes[0].golden_id == owner.pk
    assert Supplier.objects.count() == 1
    assert SourceLink.objects.get(source=bank).golden_id == owner.pk


def test_new_records_of_one_batch_sharing_a_bank_account_become_one_golden_record(by_bank_account, bank):
    result = ingest_batch(
        bank,
        by_bank_account,
        [
            incoming("B-1", code="BANK-1", name="Gamma Metals", bank_account=IBAN),
            incoming("B-2", code="BANK-2", name="Zeta Holdings", bank_account=IBAN_AS_TYPED),
        ],
    )

    first, second = result.outcomes
    assert first.golden_id == second.golden_id
    assert Supplier.objects.count() == 1
