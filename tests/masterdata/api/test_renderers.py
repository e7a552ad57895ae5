"""The API's JSON renderer writes the bytes DRF's renderer writes, only faster."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from masterdata.api.renderers import JSONRenderer

SAMPLES = {
    "text": {"name": "Müller & Söhne 有限公司", "quote": 'a "b" \\ c', "control": "tab\there\nnew\x01"},
    "separators": {"note": "line\u2028paragraph\u2029end"},
    "numbers": {"int": 12, "negative": -7, "big": 2**63 - 1, "float": 0.1, "tenth": 12.5, "zero": 0.0, "bool": True},
    "nothing": {"none": None, "empty": {}, "list": [], "nested": [{"a": [1, {"b": None}]}]},
    "times": {
        "utc": datetime(2026, 12, 7, 6, 23, 35, 268323, tzinfo=UTC),
        "offset": datetime(2026, 12, 7, 6, 23, tzinfo=timezone(timedelta(hours=8))),
        "naive": datetime(2026, 12, 7, 6, 23, 35),
        "date": date(2026, 12, 7),
        "time": time(6, 23, 35, 123456),
        "duration": timedelta(hours=1, seconds=3),
    },
    "others": {"decimal": Decimal("1234.50"), "uuid": uuid.UUID(int=7), "lazy": gettext_lazy("Active"), "set": {3}},
    "beyond_64_bits": {"huge": 2**70},
    "integer_keys": {1: "one", "two": 2},
}


@pytest.mark.parametrize("name", SAMPLES)
def test_the_bytes_are_drfs(name):
    data = SAMPLES[name]

    assert JSONRenderer().render(data) == DrfJSONRenderer().render(data)


def test_a_page_of_records_is_rendered_as_drf_renders_it(api_a, org):
    from tests.factories import CustomerFactory

    CustomerFactory.create_batch(3, owner_org=org.a, attributes={"industry": "logistics", "note": "ü\u2028"})
    response = api_a.get("/api/v1/customers/")

    assert response.status_code == 200
    assert response.content == DrfJSONRenderer().render(response.data)


def test_a_float_in_exponent_notation_may_be_written_differently_but_means_the_same_number():
    data = {"small": 1.5e-7, "large": 1e22, "negative": -2.5e-300}

    assert json.loads(JSONRenderer().render(data)) == json.loads(DrfJSONRenderer().render(data)) == data


def test_an_indented_answer_asked_for_in_the_accept_header_is_drfs():
    data = {"a": [1, 2], "b": "ü"}

    rendered = JSONRenderer().render(data, "application/json; indent=2")

    assert rendered == DrfJSONRenderer().render(data, "application/json; indent=2")
    assert rendered.startswith(b"{\n  ")


def test_nothing_renders_as_an_empty_body():
    assert JSONRenderer().render(None) == b""


def test_what_drf_cannot_encode_fails_as_in_drf():
    with pytest.raises(TypeError):
        DrfJSONRenderer().render({"x": object()})
    with pytest.raises(TypeError):
        JSONRenderer().render({"x": object()})
