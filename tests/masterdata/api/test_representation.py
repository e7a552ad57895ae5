"""A record reads through the API exactly as DRF's own field-by-field rendering would show it.

The golden-record serializer renders plain values straight from the loaded row (a list page's
largest CPU cost was DRF's generic loop); these tests hold it equal to DRF for every domain and
every kind of field, and prove that records loaded only to be shown cannot be saved.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import models
from rest_framework import serializers

from masterdata.models import GoldenRecord
from masterdata.models.base import ReadOnlyRecordError, loading_for_display
from masterdata.registry import Domain
from tests.masterdata.api.helpers import domain_params, make_record, url

pytestmark = pytest.mark.django_db


def typical_values(domain: Domain) -> dict[str, Any]:
    """A value for every plain field of the domain, so that every kind of field is rendered."""
    values: dict[str, Any] = {}
    for field in domain.model_class._meta.concrete_fields:
        if field.primary_key or field.is_relation or field.name in GoldenRecord.BOOKKEEPING_FIELDS:
            continue
        if field.name in ("code", "name"):
            continue
        if field.choices:
            values[field.name] = field.choices[-1][0]
        elif isinstance(field, models.DecimalField):
            values[field.name] = Decimal("1234.5")
        elif isinstance(field, models.DateTimeField):
            values[field.name] = datetime.datetime(2026, 3, 1, 8, 30, 15, tzinfo=datetime.UTC)
        elif isinstance(field, models.DateField):
            values[field.name] = datetime.date(2026, 2, 28)
        elif isinstance(field, models.BooleanField):
            values[field.name] = True
        elif isinstance(field, models.IntegerField):
            values[field.name] = 42
        elif isinstance(field, models.JSONField):
            values[field.name] = {"note": "ünïcode", "list": [1, 2.5, None]}
        elif isinstance(field, models.EmailField):
            values[field.name] = "buyer@example.com"
        elif isinstance(field, models.CharField | models.TextField):
            values[field.name] = "V <m> & 中文 with more text"[: field.max_length or 100]
    return values


def drf_rendering(serializer: serializers.ModelSerializer, record: GoldenRecord) -> dict[str, Any]:
    return serializers.ModelSerializer.to_representation(serializer, record)


@pytest.mark.parametrize("domain", domain_params())
def test_every_field_renders_as_drf_renders_it(org, domain):
    parent = make_record(domain, "PARENT-1", org.a) if domain.org_field == "pk" else None
    record = make_record(domain, "REC-1", parent or org.a, **typical_values(domain))
    loaded = domain.model_class.objects.get(pk=record.pk)
    serializer = domain.serializer_class()

    assert serializer._represent(loaded) == drf_rendering(serializer, loaded)
    assert serializer._represent(loaded)["code"] == "REC-1"


@pytest.mark.parametrize("domain", domain_params())
def test_empty_values_render_as_drf_renders_them(org, domain):
    record = make_record(domain, "REC-EMPTY", None)  # no org unit, no parent, no optional value
    loaded = domain.model_class.objects.get(pk=record.pk)
    serializer = domain.serializer_class()

    assert serializer._represent(loaded) == drf_rendering(serializer, loaded)


def test_a_list_page_shows_what_drf_would(api_admin, org):
    from masterdata.registry import registry

    domain = registry.get("customer")
    for n in range(3):
        make_record(domain, f"CUST-{n}", org.a, **typical_values(domain))

    rows = api_admin.get(url(domain), {"page_size": 50}).json()["results"]

    serializer = domain.serializer_class()
    expected = {
        r.code: drf_rendering(serializer, r) for r in domain.model_class.objects.select_related(domain.org_field)
    }
    assert {row["code"]: row for row in rows} == {code: expected[code] for code in (row["code"] for row in rows)}


def test_records_loaded_for_display_refuse_to_be_saved(org, customers):
    with loading_for_display():
        shown = type(customers.a).objects.get(pk=customers.a.pk)
    shown.name = "Changed behind the hub's back"

    with pytest.raises(ReadOnlyRecordError):
        shown.save()


def test_records_loaded_normally_still_track_their_changes(org, customers):
    record = type(customers.a).objects.get(pk=customers.a.pk)
    version = record.version

    record.save()  # nothing changed: no new version
    record.name = "Renamed"
    record.save()

    record.refresh_from_db()
    assert record.version == version + 1


@pytest.mark.parametrize("domain", domain_params())
def test_a_read_renders_with_light_copies_of_the_fields_and_the_same_result(org, domain, rf):
    """A GET only renders: its serializer's fields are shallow copies; a write keeps DRF's deep copies."""
    parent = make_record(domain, "PARENT-1", org.a) if domain.org_field == "pk" else None
    record = make_record(domain, "REC-1", parent or org.a, **typical_values(domain))
    loaded = domain.model_class.objects.get(pk=record.pk)
    reading = domain.serializer_class(context={"request": rf.get("/")})
    writing = domain.serializer_class(context={"request": rf.post("/")})

    assert reading._represent(loaded) == writing._represent(loaded) == drf_rendering(writing, loaded)
    built = type(reading).__dict__["_built_fields"]
    checked = [name for name, field in built.items() if field.validators]
    assert checked
    assert all(reading.fields[name].validators is built[name].validators for name in checked)
    assert not any(writing.fields[name].validators is built[name].validators for name in checked)
    assert all(field.parent is None for field in built.values())  # the class's own fields are never bound


def test_date_times_render_as_drf_renders_them_in_the_current_time_zone(org):
    from django.utils import timezone

    from masterdata.registry import registry
    from tests.factories import CustomerFactory

    customer = registry.get("customer")
    loaded = customer.model_class.objects.get(pk=CustomerFactory(owner_org=org.a).pk)
    with timezone.override("Asia/Shanghai"):
        serializer = customer.serializer_class()
        shown = serializer._represent(loaded)
        assert shown == drf_rendering(serializer, loaded)
        assert shown["created_at"].endswith("+08:00")

    serializer = customer.serializer_class()
    assert serializer._represent(loaded) == drf_rendering(serializer, loaded)
    assert serializer._represent(loaded)["created_at"].endswith("Z")
