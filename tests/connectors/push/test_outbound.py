"""Push maps: golden values become the target's fields, and only those."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.services.mapping import MappingError
from connectors.services.outbound import PushMapper, changed_part, split_path, validate_push_map
from tests.factories import CustomerFactory, OrgUnitFactory

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_a_push_map_builds_nested_objects_lists_and_scim_extension_attributes():
    mapper = PushMapper("employee", [
        {"golden": "name", "target": "name.formatted"},
        {"golden": "email", "target": "emails.0.value"},
        {"target": "emails.0.primary", "constant": True},
        {"golden": "code", "target": f"{ENTERPRISE}.employeeNumber"},
        {"golden": "position", "target": "title", "transforms": [{"op": "upper"}]},
    ])  # fmt: skip

    body = mapper.body({"name": "Li Wei", "email": "li@example.com", "code": "E-1", "position": "buyer"})

    assert body == {
        "name": {"formatted": "Li Wei"},
        "emails": [{"value": "li@example.com", "primary": True}],
        ENTERPRISE: {"employeeNumber": "E-1"},
        "title": "BUYER",
    }


def test_scim_extension_urns_stay_whole_in_paths():
    assert split_path(f"{ENTERPRISE}.manager.value") == [ENTERPRISE, "manager", "value"]
    assert split_path("name.givenName") == ["name", "givenName"]


def test_only_mapped_fields_are_read_and_foreign_keys_go_by_code(db):
    unit = OrgUnitFactory(code="A-SALES")
    customer = CustomerFactory(code="C-1", name="Alpha", owner_org=unit, credit_limit=Decimal("1500.50"),
                               tax_id="secret-ish")  # fmt: skip
    mapper = PushMapper("customer", {"code": "Code", "owner_org": "Company", "credit_limit": "Limit"})

    values = mapper.golden_values([customer])[customer.pk]

    assert values == {"code": "C-1", "credit_limit": "1500.50", "owner_org": "A-SALES"}
    assert mapper.body(values) == {"Code": "C-1", "Company": "A-SALES", "Limit": "1500.50"}


def test_outbound_transforms_format_dates_and_numbers():
    compact_date = [{"op": "format", "format": "%Y%m%d"}]
    mapper = PushMapper("customer", [
        {"golden": "last_transaction_date", "target": "LastOrder", "transforms": compact_date},
        {"golden": "credit_limit", "target": "Limit", "transforms": [{"op": "float"}]},
        {"golden": "country", "target": "Region", "transforms": [{"op": "lookup", "table": {"CN": "APAC"}}]},
    ])  # fmt: skip

    assert mapper.body({"last_transaction_date": "2024-03-01", "credit_limit": "12.50", "country": "CN"}) == {
        "LastOrder": "20240301", "Limit": 12.5, "Region": "APAC",
    }  # fmt: skip
    with pytest.raises(MappingError, match="Region"):
        mapper.body({"country": "DE"})


def test_a_golden_field_left_out_is_not_sent_and_a_constant_always_is():
    mapper = PushMapper("customer", [{"golden": "name", "target": "n"}, {"target": "origin", "constant": "MDM"}])
    assert mapper.body({}) == {"origin": "MDM"}


def test_the_changed_part_is_what_differs_from_what_the_target_holds():
    body = {"name": "B", "address": {"city": "Shanghai", "street": "1 Road"}, "tags": ["x"]}
    known = {"name": "A", "address": {"city": "Shanghai", "street": "1 Road"}, "tags": ["x"]}
    assert changed_part(body, known) == {"name": "B"}
    assert changed_part(body, None) == body
    assert changed_part(body, body) == {}


def test_a_push_map_is_validated_entry_by_entry():
    messages = validate_push_map("customer", [
        {"golden": "nickname", "target": "n"},
        {"golden": "name", "target": "x", "constant": "y"},
        {"golden": "code", "target": "x"},
        {"golden": "email", "target": "e", "transforms": [{"op": "format", "format": 5}]},
        {"golden": "phone", "target": "p", "oops": 1},
    ])  # fmt: skip
    assert any("unknown golden field 'nickname'" in m for m in messages)
    assert any("exactly one of golden or constant" in m for m in messages)
    assert any("'x' is already written by entry 2" in m for m in messages)
    assert any("'format' of transform 'format' must be text" in m for m in messages)
    assert any("unknown keys 'oops'" in m for m in messages)
    assert validate_push_map("customer", []) and validate_push_map("planet", {"a": "b"})
    assert not validate_push_map("customer", {"code": "Code", "attributes.segment": "Segment"})
