"""The outbox: every new version of a golden record writes one ChangeEvent, in the same transaction."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from masterdata.models import ChangeEvent, Customer, Material
from masterdata.services import golden
from tests.factories import SourceSystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ctx(superuser):
    return golden.ChangeContext(user=superuser, source=SourceSystemFactory(code="erp"), reason="test")


def events_of(record) -> list[tuple]:
    return list(
        ChangeEvent.objects.filter(golden_id=record.pk, domain="customer")
        .order_by("id")
        .values_list("version", "kind", "changed_fields")
    )


def test_creating_writes_a_created_event_naming_the_fields_given(org, ctx, superuser):
    record = golden.create(Customer, {"code": "C-1", "name": "Alpha", "owner_org": org.a}, ctx)

    event = ChangeEvent.objects.get()
    assert (event.domain, event.golden_id, event.version, event.kind) == ("customer", record.pk, 1, "created")
    assert event.changed_fields == ["code", "name", "owner_org", "status"]
    assert (event.origin_source, event.user) == (ctx.source, superuser)
    assert event.occurred_at == ctx.at


def test_each_change_writes_one_event_with_its_version_and_fields(org, ctx):
    record = golden.create(Customer, {"code": "C-1", "name": "Alpha"}, ctx)
    golden.update(record, {"name": "Alpha Ltd", "phone": "1"}, ctx)
    golden.update(record, {"name": "Alpha Ltd"}, ctx)  # no change: no version, no event

    assert events_of(record) == [
        (1, "created", ["code", "name", "status"]),
        (2, "updated", ["name", "phone"]),
    ]


def test_deactivating_and_reactivating_are_events_of_their_own_kind(customers, ctx):
    golden.deactivate(customers.a, ctx)
    golden.reactivate(customers.a, ctx)

    assert events_of(customers.a) == [(2, "deactivated", ["status"]), (3, "reactivated", ["status"])]


def test_an_event_is_written_in_the_transaction_of_its_change(ctx):
    with pytest.raises(RuntimeError), transaction.atomic():
        golden.create(Material, {"code": "M-1", "name": "Bolt"}, ctx)
        raise RuntimeError("the caller's transaction fails later")

    assert not Material.objects.exists()
    assert not ChangeEvent.objects.exists()


def test_a_refused_change_writes_no_event(customers, ctx):
    with pytest.raises(ValidationError):
        golden.create(Customer, {"code": customers.a.code, "name": "Copy"}, ctx)

    assert not ChangeEvent.objects.exists()


def test_events_of_an_api_edit_carry_the_user_and_no_source(api_a, steward_a, customers):
    response = api_a.patch(f"/api/v1/customers/{customers.a.pk}/", {"phone": "+86 21"}, format="json")

    assert response.status_code == 200
    event = ChangeEvent.objects.get()
    assert (event.kind, event.changed_fields, event.user, event.origin_source) == (
        "updated",
        ["phone"],
        steward_a,
        None,
    )
