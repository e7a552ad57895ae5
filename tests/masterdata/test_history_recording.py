"""History of golden records: who, when, why and from which source; nothing when nothing changed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from masterdata.models import Customer
from masterdata.registry import registry
from masterdata.services import golden, history
from tests.factories import SourceSystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm(db):
    return SourceSystemFactory(code="crm", name="CRM")


@pytest.fixture
def ctx(superuser, crm):
    return golden.ChangeContext(user=superuser, source=crm, reason="nightly CRM sync")


@pytest.fixture
def customer(ctx):
    return golden.create(Customer, {"code": "C-1", "name": "Alpha", "credit_limit": Decimal("1.50")}, ctx)


@pytest.mark.parametrize("domain", list(registry), ids=lambda d: d.name)
def test_every_domain_records_user_reason_and_source_system_of_a_change(domain, ctx, superuser, crm):
    record = golden.create(domain.model_class, {"code": "H-1", "name": "First"}, ctx)
    row = record.history.get()
    assert row.history_type == "+"
    assert row.history_user == superuser
    assert row.history_change_reason == "nightly CRM sync"
    assert row.history_source == crm
    assert row.history_date is not None


def test_a_change_writes_a_history_row_with_its_own_context_and_bumps_the_version(customer, crm):
    updated = golden.update(customer, {"name": "Alpha Ltd"}, golden.ChangeContext(reason="rename"))
    assert updated.version == 2
    latest, first = history.versions(updated)
    assert (latest.history_type, latest.name, latest.version) == ("~", "Alpha Ltd", 2)
    assert (latest.history_user, latest.history_source, latest.history_change_reason) == (None, None, "rename")
    assert (first.name, first.version, first.history_source) == ("Alpha", 1, crm)


def test_saving_an_unchanged_record_writes_no_history_row_and_keeps_the_version(customer, ctx):
    record = Customer.objects.get(pk=customer.pk)
    assert golden.save(record, ctx) is False
    again = golden.update(customer, {"name": "Alpha"}, ctx)
    assert again.version == 1
    assert customer.history.count() == 1


def test_the_same_credit_limit_written_as_a_float_is_no_change(customer, ctx):
    golden.update(customer, {"credit_limit": 1.5}, ctx)
    golden.update(customer, {"credit_limit": "1.50"}, ctx)
    assert Customer.objects.get(pk=customer.pk).version == 1
    assert customer.history.count() == 1


def test_a_real_change_records_the_new_value_and_provenance(customer, ctx):
    updated = golden.update(customer, {"credit_limit": Decimal("2.00")}, ctx)
    assert updated.version == 2
    assert updated.history.count() == 2
    assert history.versions(updated).first().credit_limit == Decimal("2.00")
    assert updated.provenance["credit_limit"]["source"] == "crm"


def test_the_record_can_be_read_as_it_stood_at_a_past_moment(customer, ctx):
    before_creation = customer.created_at - timezone.timedelta(seconds=1)
    after_creation = timezone.now()
    golden.update(customer, {"name": "Alpha Holdings"}, ctx)

    assert history.as_of(customer, before_creation) is None
    then = history.as_of(customer, after_creation)
    assert (then.name, then.version) == ("Alpha", 1)
    now = history.as_of(Customer, timezone.now(), pk=customer.pk)
    assert (now.name, now.version) == ("Alpha Holdings", 2)
