"""Golden-record models: database constraints, indexes, change tracking, sources and links."""

from __future__ import annotations

import datetime
import hashlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from masterdata.models import (
    Customer,
    Employee,
    Material,
    OrgUnit,
    SourceDomain,
    SourceLink,
    SyncDirection,
)
from masterdata.registry import registry
from tests.factories import (
    CustomerFactory,
    EmployeeFactory,
    MaterialFactory,
    OrgUnitFactory,
    SourceSystemFactory,
    SupplierFactory,
)

pytestmark = pytest.mark.django_db


def refused_by_database(make) -> None:
    """``make()`` must be refused by the database itself (not by Python validation)."""
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


# --- constraints --------------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [CustomerFactory, SupplierFactory, MaterialFactory, EmployeeFactory])
def test_code_is_unique_within_a_domain(factory):
    factory(code="K-1")
    refused_by_database(lambda: factory(code="K-1"))


def test_the_same_code_may_exist_in_two_domains():
    CustomerFactory(code="SHARED")
    SupplierFactory(code="SHARED")
    assert Customer.objects.filter(code="SHARED").exists()


def test_status_outside_active_inactive_merged_is_refused():
    refused_by_database(lambda: CustomerFactory(status="deleted"))


def test_merged_status_without_a_survivor_is_refused():
    customer = CustomerFactory()
    refused_by_database(lambda: Customer.objects.filter(pk=customer.pk).update(status="merged"))


def test_a_survivor_on_a_record_that_is_not_merged_is_refused():
    survivor, other = CustomerFactory(), CustomerFactory()
    refused_by_database(lambda: Customer.objects.filter(pk=other.pk).update(merged_into=survivor))


def test_a_record_merged_into_itself_is_refused():
    customer = CustomerFactory()
    refused_by_database(lambda: Customer.objects.filter(pk=customer.pk).update(status="merged", merged_into=customer))


def test_a_merged_record_pointing_at_its_survivor_is_stored():
    survivor, merged = CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=merged.pk).update(status="merged", merged_into=survivor)
    assert Customer.objects.get(pk=merged.pk).merged_into == survivor


def test_version_zero_is_refused():
    refused_by_database(lambda: CustomerFactory(version=0))


def test_blank_code_is_refused():
    refused_by_database(lambda: MaterialFactory(code=""))


def test_leave_date_before_hire_date_is_refused():
    refused_by_database(
        lambda: EmployeeFactory(hire_date=datetime.date(2024, 3, 1), leave_date=datetime.date(2024, 2, 29))
    )


def test_leaving_on_the_day_of_hire_is_allowed():
    day = datetime.date(2024, 3, 1)
    assert EmployeeFactory(hire_date=day, leave_date=day).pk


def test_an_employee_cannot_be_their_own_manager():
    employee = EmployeeFactory()
    refused_by_database(lambda: Employee.objects.filter(pk=employee.pk).update(manager=employee))


def test_an_org_unit_cannot_be_its_own_parent_in_the_database():
    unit = OrgUnitFactory()
    refused_by_database(lambda: OrgUnit.objects.filter(pk=unit.pk).update(parent=unit))


def test_org_unit_validity_must_not_end_before_it_starts():
    refused_by_database(
        lambda: OrgUnitFactory(valid_from=datetime.date(2024, 1, 2), valid_to=datetime.date(2024, 1, 1))
    )


def test_an_unknown_org_unit_type_is_refused():
    refused_by_database(lambda: OrgUnitFactory(unit_type="division"))


def test_a_negative_credit_limit_is_refused():
    refused_by_database(lambda: CustomerFactory(credit_limit=Decimal("-0.01")))


def test_a_zero_credit_limit_is_allowed():
    assert CustomerFactory(credit_limit=Decimal("0")).credit_limit == 0


def test_an_unknown_material_type_is_refused():
    refused_by_database(lambda: MaterialFactory(material_type="liquid"))


def test_full_clean_reports_the_constraints_as_validation_errors_before_the_database_sees_them():
    CustomerFactory(code="DUP")
    with pytest.raises(ValidationError) as excinfo:
        Customer(code="DUP", name="Again", credit_limit=Decimal("-1")).full_clean()
    assert {"code", "credit_limit"} <= set(excinfo.value.message_dict)


# --- indexes ------------------------------------------------------------------------------------
def _leading_index_columns(model) -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {c["columns"][0] for c in constraints.values() if (c["index"] or c["unique"]) and c["columns"]}


@pytest.mark.parametrize("domain", list(registry), ids=lambda d: d.name)
def test_every_filter_the_api_offers_is_served_by_an_index(domain):
    model = domain.model_class
    # sensitive fields are served by an expression index (test_sensitive_fields)
    filters = ["code", "status", "updated_at", *(f for f in domain.filter_fields if f not in domain.sensitive_fields)]
    columns = {model._meta.get_field(name).column for name in filters}
    assert columns <= _leading_index_columns(model)


@pytest.mark.parametrize("name", ["customer", "supplier", "material", "org_unit", "employee"])
def test_every_ordering_of_the_five_domains_is_served_by_an_index(name):
    domain = registry.get(name)
    model = domain.model_class
    columns = {model._meta.get_field(field).column for field in domain.ordering_fields}
    assert columns <= _leading_index_columns(model) | {"id"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes exist on PostgreSQL only")
@pytest.mark.parametrize("name", ["customer", "supplier", "material", "org_unit", "employee"])
def test_every_search_field_of_the_five_domains_has_a_trigram_index_on_postgresql(name):
    domain = registry.get(name)
    table = domain.model_class._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        definitions = [row[0].replace('"', "") for row in cursor.fetchall()]
    for field in domain.search_fields:
        column = domain.model_class._meta.get_field(field).column
        expected = f"upper(({column})::text) gin_trgm_ops"
        assert any(expected in d for d in definitions), f"{table}.{column} has no trigram index"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LIKE (pattern_ops) indexes exist on PostgreSQL only")
@pytest.mark.parametrize("name", ["customer", "supplier", "material", "org_unit", "employee"])
def test_status_is_indexed_once_and_history_rows_do_not_index_it(name):
    # Every index costs every sync's inserts and updates: no LIKE index (no query matches a status
    # by pattern), and no status index on the history table (history is read by record and date).
    model = registry.get(name).model_class
    tables = (model._meta.db_table, model.history.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [list(tables), "%(status%"],
        )
        found = [(table, definition.split(" USING ")[1]) for table, definition in cursor.fetchall()]
    assert found == [(tables[0], "btree (status)")]


# --- change tracking ----------------------------------------------------------------------------
def test_a_new_record_starts_at_version_one_with_one_history_row():
    customer = CustomerFactory()
    assert customer.version == 1
    assert customer.history.count() == 1


def test_saving_an_unchanged_record_writes_nothing(django_assert_num_queries):
    customer = Customer.objects.get(pk=CustomerFactory().pk)
    with django_assert_num_queries(0):
        customer.save()
    assert customer.version == 1
    assert customer.history.count() == 1


def test_a_change_bumps_the_version_and_writes_one_history_row():
    customer = Customer.objects.get(pk=CustomerFactory(name="Old").pk)
    customer.name = "New"
    customer.save()
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.name, stored.version) == ("New", 2)
    assert customer.history.count() == 2


@pytest.mark.parametrize("same", ["1.50", 1.5, Decimal("1.5")])
def test_the_same_decimal_written_differently_is_no_change(same):
    customer = Customer.objects.get(pk=CustomerFactory(credit_limit=Decimal("1.50")).pk)
    customer.credit_limit = same
    assert customer.changed_fields() == []


def test_a_float_that_rounds_to_the_stored_decimal_is_no_change():
    customer = Customer.objects.get(pk=CustomerFactory(credit_limit=Decimal("0.10")).pk)
    customer.credit_limit = 0.1
    assert customer.changed_fields() == []


def test_a_date_given_as_iso_text_equal_to_the_stored_date_is_no_change():
    customer = Customer.objects.get(pk=CustomerFactory(last_transaction_date=datetime.date(2024, 5, 1)).pk)
    customer.last_transaction_date = "2024-05-01"
    assert customer.changed_fields() == []


def test_editing_attributes_in_place_is_a_change():
    customer = Customer.objects.get(pk=CustomerFactory(attributes={"segment": "retail"}).pk)
    customer.attributes["segment"] = "wholesale"
    customer.save()
    assert Customer.objects.get(pk=customer.pk).attributes == {"segment": "wholesale"}
    assert customer.version == 2


def test_a_deferred_field_that_is_assigned_is_saved():
    customer = Customer.objects.only("id", "code").get(pk=CustomerFactory(name="Before").pk)
    customer.name = "After"
    customer.save()
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.name, stored.version) == ("After", 2)


def test_a_deferred_field_that_is_only_read_is_no_change():
    customer = Customer.objects.only("id", "code").get(pk=CustomerFactory(name="Same").pk)
    assert customer.name == "Same"
    assert customer.changed_fields() == []


def test_refreshing_from_the_database_makes_the_stored_values_the_new_baseline():
    pk = CustomerFactory(name="One").pk
    stale = Customer.objects.get(pk=pk)
    Customer.objects.filter(pk=pk).update(name="Two", version=2)  # another writer
    stale.refresh_from_db()
    assert stale.changed_fields() == []
    stale.name = "Three"
    stale.save()
    assert Customer.objects.get(pk=pk).version == 3


def test_update_fields_saves_only_the_named_changes_and_keeps_the_others_pending():
    customer = Customer.objects.get(pk=CustomerFactory(name="N", phone="1").pk)
    customer.name, customer.phone = "N2", "2"
    customer.save(update_fields=["name"])
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.name, stored.phone, stored.version) == ("N2", "1", 2)
    assert customer.changed_fields() == ["phone"]


def test_update_fields_naming_only_unchanged_fields_writes_nothing(django_assert_num_queries):
    customer = Customer.objects.get(pk=CustomerFactory().pk)
    customer.phone = "555"
    with django_assert_num_queries(0):
        customer.save(update_fields=["name"])


# --- sources and links --------------------------------------------------------------------------
def source_domain(**kwargs) -> SourceDomain:
    values = {"source": SourceSystemFactory(), "domain": "customer", "direction": SyncDirection.PULL}
    return SourceDomain(**(values | kwargs))


def test_field_trust_naming_a_field_the_domain_does_not_have_is_invalid():
    with pytest.raises(ValidationError) as excinfo:
        source_domain(field_trust={"shoe_size": 80}).full_clean()
    assert "shoe_size" in str(excinfo.value.message_dict["field_trust"])


@pytest.mark.parametrize("rank", [101, -1, "90", 7.5, True])
def test_field_trust_ranks_must_be_integers_from_0_to_100(rank):
    with pytest.raises(ValidationError) as excinfo:
        source_domain(field_trust={"credit_rating": rank}).full_clean()
    assert "field_trust" in excinfo.value.message_dict


def test_a_domain_trust_rank_above_100_is_invalid():
    with pytest.raises(ValidationError) as excinfo:
        source_domain(trust_rank=101).full_clean()
    assert "trust_rank" in excinfo.value.message_dict


def test_an_unknown_domain_is_invalid():
    with pytest.raises(ValidationError) as excinfo:
        source_domain(domain="planet").full_clean()
    assert "domain" in excinfo.value.message_dict


def test_a_valid_source_domain_passes_validation_including_the_sixth_domain():
    source_domain(field_trust={"credit_rating": 90, "name": 0}).full_clean()
    source_domain(domain="plant", field_trust={"site_country": 100}).full_clean()


def test_trust_for_a_field_falls_back_to_the_domain_rank():
    sd = source_domain(trust_rank=40, field_trust={"credit_rating": 90})
    assert sd.trust_for("credit_rating") == 90
    assert sd.trust_for("name") == 40


def test_direction_says_whether_a_source_pulls_pushes_or_both():
    assert (source_domain(direction="pull").pulls, source_domain(direction="pull").pushes) == (True, False)
    assert (source_domain(direction="push").pulls, source_domain(direction="push").pushes) == (False, True)
    assert (source_domain(direction="both").pulls, source_domain(direction="both").pushes) == (True, True)


def test_a_source_takes_part_in_a_domain_once():
    sd = source_domain()
    sd.save()
    refused_by_database(lambda: SourceDomain.objects.create(source=sd.source, domain="customer"))


def test_payload_hash_is_stable_under_key_order_and_changes_with_content():
    first = SourceLink.hash_payload({"name": "Alpha", "limit": Decimal("1.50"), "tags": ["a", "b"]})
    same = SourceLink.hash_payload({"tags": ["a", "b"], "limit": Decimal("1.50"), "name": "Alpha"})
    other = SourceLink.hash_payload({"name": "Alpha", "limit": Decimal("1.51"), "tags": ["a", "b"]})
    assert first == same != other
    assert len(first) == 64


def test_payload_hash_is_the_sha256_of_the_compact_sorted_json_text():
    # Stored on every link: a change of the scheme would make every record look changed once.
    payload = {"name": "上海华瑞", "id": 7, "nested": {"b": [1.5, None, True], "a": "x"}}
    text = '{"id":7,"name":"上海华瑞","nested":{"a":"x","b":[1.5,null,true]}}'
    assert SourceLink.hash_payload(payload) == hashlib.sha256(text.encode()).hexdigest()


def test_payload_hash_takes_what_orjson_refuses_too_and_stays_stable():
    huge = {"id": 2**70, "name": "Alpha"}  # beyond 64 bits
    numbered = {2: "two", 1: "one"}  # keys that are not text
    for payload in (huge, numbered):
        assert SourceLink.hash_payload(payload) == SourceLink.hash_payload(dict(reversed(payload.items())))
    assert SourceLink.hash_payload(huge) != SourceLink.hash_payload({"id": 2**70 + 1, "name": "Alpha"})


def test_a_source_key_links_to_one_golden_record_per_source_and_domain():
    source = SourceSystemFactory()
    customer = CustomerFactory()
    SourceLink.objects.create(source=source, domain="customer", source_key="42", golden_id=customer.pk)
    refused_by_database(
        lambda: SourceLink.objects.create(source=source, domain="customer", source_key="42", golden_id=0)
    )
    SourceLink.objects.create(source=source, domain="supplier", source_key="42", golden_id=customer.pk)
    SourceLink.objects.create(source=SourceSystemFactory(), domain="customer", source_key="42", golden_id=1)


def test_a_link_finds_its_golden_record_through_the_registry():
    material = MaterialFactory()
    link = SourceLink.objects.create(
        source=SourceSystemFactory(), domain="material", source_key="M-1", golden_id=material.pk
    )
    assert link.golden_record == material
    assert isinstance(link.golden_record, Material)
