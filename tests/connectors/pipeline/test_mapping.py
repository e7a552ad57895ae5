"""Field maps: transforms, constants, concatenation, attributes, and validation that names the entry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connectors.services.mapping import Mapper, MappingConfigError, MappingError, apply_transforms, validate_field_map

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def customer_mapper(entries, **kwargs) -> Mapper:
    return Mapper("customer", [{"source": "id", "target": "code"}, *entries], key_path="id", **kwargs)


def test_the_shorthand_maps_source_paths_to_golden_fields():
    mapper = Mapper("customer", {"id": "code", "name": "name", "credit_score": "credit_rating"}, key_path="id")

    mapped = mapper.map({"id": "C1", "name": "Acme", "credit_score": 700, "noise": 1})

    assert (mapped.source_key, mapped.values, mapped.attributes) == (
        "C1",
        {"code": "C1", "name": "Acme", "credit_rating": 700},
        {},
    )


def test_the_issue_example_trims_cases_and_looks_up_with_a_default():
    mapper = customer_mapper(
        [
            {
                "source": "credit_score",
                "target": "credit_rating",
                "transforms": [{"op": "trim"}, {"op": "upper"}, {"op": "lookup", "table": {"1": "A"}, "default": "C"}],
            },
            {"target": "currency", "constant": "CNY"},
            {"target": "address", "concat": ["street", "city"], "separator": ", "},
        ]
    )

    assert mapper.map({"id": "1", "credit_score": " 1 ", "street": "1 Bund ", "city": "Shanghai"}).values == {
        "code": "1",
        "credit_rating": "A",
        "currency": "CNY",
        "address": "1 Bund, Shanghai",
    }
    assert mapper.map({"id": "2", "credit_score": "7", "city": "Beijing"}).values["credit_rating"] == "C"
    assert mapper.map({"id": "3", "street": "", "city": "Wuhan"}).values["address"] == "Wuhan"


@pytest.mark.parametrize(
    ("transforms", "raw", "expected"),
    [
        ([{"op": "date", "format": "%d.%m.%Y"}], "31.12.2024", date(2024, 12, 31)),
        ([{"op": "date"}], "2024-03-01T23:30:00+08:00", date(2024, 3, 1)),
        ([{"op": "date"}], "/Date(1704067200000)/", date(2024, 1, 1)),
        ([{"op": "datetime"}], "2024-01-01T08:00:00Z", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ([{"op": "number", "thousands": ".", "decimal": ","}], "1.234,50", Decimal("1234.50")),
        ([{"op": "number"}], 12.5, Decimal("12.5")),
        ([{"op": "integer"}], "42", 42),
        ([{"op": "boolean"}], "X", True),
        ([{"op": "case", "to": "title"}], "acme trading", "Acme Trading"),
        ([{"op": "lower"}, {"op": "replace", "old": " ", "new": ""}], "A B C", "abc"),
        ([{"op": "string"}], 500, "500"),
        ([{"op": "default", "value": "n/a"}], "", "n/a"),
        ([{"op": "trim"}, {"op": "default", "value": "n/a"}], None, "n/a"),
        ([{"op": "trim"}, {"op": "upper"}], None, None),
    ],
)
def test_transforms_run_in_order(transforms, raw, expected):
    assert apply_transforms(raw, transforms) == expected


@pytest.mark.parametrize(
    ("transforms", "raw", "message"),
    [
        ([{"op": "date", "format": "%Y-%m-%d"}], "01/02/2024", "is not a date in the date format '%Y-%m-%d'"),
        ([{"op": "number"}], "12 apples", "not a number: '12 apples'"),
        ([{"op": "integer"}], "1.5", "not a whole number"),
        ([{"op": "lookup", "table": {"A": "1"}}], "Z", "'Z' is not in the lookup table"),
        ([{"op": "trim"}], {"nested": True}, "trim expects text, got dict"),
    ],
)
def test_a_value_a_transform_cannot_take_is_a_mapping_error_naming_the_field(transforms, raw, message):
    mapper = customer_mapper([{"source": "value", "target": "credit_rating", "transforms": transforms}])

    with pytest.raises(MappingError) as caught:
        mapper.map({"id": "1", "value": raw})

    assert caught.value.target == "credit_rating"
    assert message in caught.value.message and caught.value.message.startswith("credit_rating: ")


def test_a_path_the_record_lacks_leaves_the_field_alone_and_an_explicit_null_clears_it():
    mapper = customer_mapper([{"source": "phone", "target": "phone"}, {"source": "limit", "target": "credit_limit"}])

    assert mapper.map({"id": "1"}).values == {"code": "1"}
    assert mapper.map({"id": "1", "phone": None, "limit": None}).values == {
        "code": "1",
        "phone": "",
        "credit_limit": None,
    }


def test_nested_paths_list_indexes_and_scim_extension_urns_are_read():
    mapper = Mapper(
        "employee",
        [
            {"source": f"{ENTERPRISE}.employeeNumber", "target": "code"},
            {"source": "name.formatted", "target": "name"},
            {"source": "emails.0.value", "target": "email"},
        ],
        key_path="id",
    )

    user = {"id": "u-1", "name": {"formatted": "Ann Lee"}, "emails": [{"value": "ann@example.com"}],
            ENTERPRISE: {"employeeNumber": "E1"}}  # fmt: skip
    assert mapper.map(user).values == {"code": "E1", "name": "Ann Lee", "email": "ann@example.com"}


def test_unmapped_top_level_fields_go_to_attributes_when_asked_protocol_noise_excepted():
    mapper = customer_mapper(
        [{"source": "name", "target": "name"}, {"source": "segment.code", "target": "attributes.segment"}],
        keep_unmapped=True,
    )

    mapped = mapper.map({"id": "1", "name": "Acme", "segment": {"code": "KA"}, "since": "2020", "@odata.etag": "W/1",
                         "__metadata": {}})  # fmt: skip

    assert mapped.attributes == {"segment": "KA", "since": "2020"}
    assert "attributes.segment" not in mapped.values


def test_a_record_without_its_source_key_cannot_be_mapped():
    with pytest.raises(MappingError, match="no source key at 'id'"):
        customer_mapper([]).map({"name": "Keyless"})


def test_validation_names_each_faulty_entry():
    messages = validate_field_map(
        "customer",
        [
            {"source": "id", "target": "code"},
            {"source": "credit_score", "target": "credit_ratin"},
            {"source": "name..first", "target": "name"},
            {"source": "x", "target": "email", "transforms": [{"op": "uppr"}]},
            {"source": "y", "target": "phone", "transforms": [{"op": "lookup"}]},
            {"target": "country", "constant": "CN", "source": "land"},
            {"source": "z", "target": "name"},
        ],
    )

    assert messages == [
        "entry 2 (credit_score → credit_ratin): unknown golden field 'credit_ratin' of customer",
        "entry 3 (name..first → name): bad source path 'name..first'",
        "entry 4 (x → email): unknown transform 'uppr' (known: trim, upper, lower, case, string, replace, number, "
        "integer, boolean, date, datetime, lookup, default)",
        "entry 5 (y → phone): transform 'lookup' needs 'table'",
        "entry 6 (land → country): needs exactly one of source, constant or concat",
        "entry 7 (z → name): 'name' is already mapped by entry 3",
    ]


def test_validation_refuses_bookkeeping_fields_and_requires_the_business_key():
    messages = validate_field_map("material", {"status": "status", "name": "name"})

    assert messages == [
        "entry 1 (status → status): unknown golden field 'status' of material",
        "the business key 'code' of material is not mapped",
    ]


def test_a_mapper_refuses_to_compile_a_faulty_field_map():
    with pytest.raises(MappingConfigError) as caught:
        Mapper("customer", [{"source": "id", "target": "nope"}], key_path=" id")

    assert caught.value.messages[-1] == "bad source key path ' id'"
