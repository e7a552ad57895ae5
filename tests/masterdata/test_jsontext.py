"""JSON texts of the bulk writes and payload hashes: orjson's speed, json.dumps's meaning."""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy

from masterdata import jsontext


def test_a_document_reads_back_as_the_same_document():
    document = {"name": "上海华瑞", "limit": 1.5, "tags": ["a", None, True], "nested": {"n": 2**40}}
    assert json.loads(jsontext.text(document)) == document


def test_what_orjson_does_not_know_goes_to_the_fields_encoder_as_json_dumps_would_send_it():
    at = datetime.datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=datetime.UTC)
    document = {"at": at, "day": at.date(), "amount": Decimal("1.50"), "id": uuid.UUID(int=7)}
    document["label"] = gettext_lazy("x")
    expected = json.loads(json.dumps(document, cls=DjangoJSONEncoder))  # the time to the millisecond, as Django does
    assert json.loads(jsontext.text(document, DjangoJSONEncoder)) == expected


def test_without_an_encoder_dates_and_dataclasses_are_refused_as_json_dumps_refuses_them():
    @dataclasses.dataclass
    class Point:
        x: int

    for value in (datetime.date(2024, 5, 1), Point(1), object()):
        with pytest.raises(TypeError):
            jsontext.text({"value": value})


def test_what_orjson_refuses_is_encoded_by_json_dumps():
    assert json.loads(jsontext.text({"id": 2**70})) == {"id": 2**70}
    assert json.loads(jsontext.text({1: "one"})) == {"1": "one"}


def test_sorted_keys_make_one_text_whatever_the_order():
    assert jsontext.dumps({"b": 1, "a": {"d": 2, "c": 3}}, sort_keys=True) == b'{"a":{"c":3,"d":2},"b":1}'
    assert jsontext.dumps({2**70: 1, 1: 2}, sort_keys=True) == jsontext.dumps({1: 2, 2**70: 1}, sort_keys=True)
