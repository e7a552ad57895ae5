"""Every kind of bad input gets a JSON 400 naming what is wrong, never a 500.

The cases are requests a careless or hostile client sends: unknown filter values, impossible
dates, forged cursors, wrong types, NUL characters and lone surrogates (which PostgreSQL
cannot store), oversized bodies, unknown foreign keys, forbidden status values and garbage
in the conditional headers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from masterdata.models import Customer, Employee, OrgUnit

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
CUSTOMER = "/api/v1/customers/{customer}/"
VALID = {"code": "C-NEW", "name": "New customer", "owner_org": "A"}


def cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@dataclass
class Case:
    method: str
    path: str
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None
    field: str | None = None
    status: int = 400


def body(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


CASES = {
    # --- list filters, search, ordering, pagination
    "unknown status value": Case("get", CUSTOMERS, query={"status": "archived"}, field="status"),
    "updated_since not a date": Case("get", CUSTOMERS, query={"updated_since": "yesterday"}, field="updated_since"),
    "updated_since impossible date": Case(
        "get", CUSTOMERS, query={"updated_since": "2024-13-45T00:00:00Z"}, field="updated_since"
    ),
    "unknown ordering field": Case("get", CUSTOMERS, query={"ordering": "credit_limit"}, field="ordering"),
    "ordering by an unlisted column": Case("get", CUSTOMERS, query={"ordering": "-provenance"}, field="ordering"),
    "ordering by a bare minus": Case("get", CUSTOMERS, query={"ordering": "-"}, field="ordering"),
    "page_size zero": Case("get", CUSTOMERS, query={"page_size": "0"}, field="page_size"),
    "page_size negative": Case("get", CUSTOMERS, query={"page_size": "-5"}, field="page_size"),
    "page_size not a number": Case("get", CUSTOMERS, query={"page_size": "abc"}, field="page_size"),
    "page_size huge": Case("get", CUSTOMERS, query={"page_size": "100000"}, field="page_size"),
    "cursor garbage": Case("get", CUSTOMERS, query={"cursor": "!!not-base64!!"}, field="cursor"),
    "cursor with a text position for ids": Case("get", CUSTOMERS, query={"cursor": cursor("p=abc")}, field="cursor"),
    "cursor with a NUL position": Case(
        "get", CUSTOMERS, query={"cursor": cursor("p=a\x00b"), "ordering": "code"}, field="cursor"
    ),
    "cursor with a bad date position": Case(
        "get", CUSTOMERS, query={"cursor": cursor("p=never"), "ordering": "-updated_at"}, field="cursor"
    ),
    "cursor with a huge offset": Case("get", CUSTOMERS, query={"cursor": cursor("o=abc")}, field="cursor"),
    "NUL in search": Case("get", CUSTOMERS, query={"search": "a\x00"}),
    "NUL in code filter": Case("get", CUSTOMERS, query={"code": "\x00"}),
    "NUL in a parameter name": Case("get", CUSTOMERS, query={"x\x00": "1"}),
    "NUL in a foreign-key filter": Case("get", "/api/v1/employees/", query={"org_unit": "A\x00"}),
    # --- history
    "as_of not a date": Case("get", CUSTOMER + "history/", query={"as_of": "last tuesday"}, field="as_of"),
    "as_of impossible date": Case("get", CUSTOMER + "history/", query={"as_of": "2024-02-30T10:00:00"}, field="as_of"),
    "as_of out of range": Case(
        "get", CUSTOMER + "history/", query={"as_of": "0001-01-01T00:00:00+05:00"}, field="as_of"
    ),
    "history page_size zero": Case("get", CUSTOMER + "history/", query={"page_size": "0"}, field="page_size"),
    "history cursor forged": Case("get", CUSTOMER + "history/", query={"cursor": cursor("p=x")}, field="cursor"),
    # --- bodies: syntax and shape
    "invalid JSON": Case("post", CUSTOMERS, raw='{"code": "C-1", '),
    "body is a list": Case("post", CUSTOMERS, raw="[1, 2]", field="non_field_errors"),
    "body is a string": Case("post", CUSTOMERS, raw='"customer"', field="non_field_errors"),
    "body is null": Case("post", CUSTOMERS, raw="null", field="non_field_errors"),
    "NaN in JSON": Case("post", CUSTOMERS, raw='{"code": "C-1", "name": "x", "credit_limit": NaN}'),
    "patch body is a list": Case("patch", CUSTOMER, raw="[]", field="non_field_errors"),
    # --- bodies: types and lengths
    "credit_limit a word": Case("post", CUSTOMERS, body(credit_limit="a lot"), field="credit_limit"),
    "credit_limit negative": Case("post", CUSTOMERS, body(credit_limit="-5"), field="credit_limit"),
    "credit_limit too many digits": Case("post", CUSTOMERS, body(credit_limit="1e30"), field="credit_limit"),
    "attributes a list": Case("post", CUSTOMERS, body(attributes=["a"]), field="attributes"),
    "attributes a string": Case("post", CUSTOMERS, body(attributes="{}"), field="attributes"),
    "attributes null": Case("post", CUSTOMERS, body(attributes=None), field="attributes"),
    "name an object": Case("post", CUSTOMERS, body(name={"en": "x"}), field="name"),
    "name a list": Case("post", CUSTOMERS, body(name=["x"]), field="name"),
    "code null": Case("post", CUSTOMERS, body(code=None), field="code"),
    "code blank": Case("post", CUSTOMERS, body(code="   "), field="code"),
    "name missing": Case("post", CUSTOMERS, {"code": "C-1", "owner_org": "A"}, field="name"),
    "name too long": Case("post", CUSTOMERS, body(name="x" * 201), field="name"),
    "code too long": Case("post", CUSTOMERS, body(code="C" * 65), field="code"),
    "country too long": Case("post", CUSTOMERS, body(country="CHN"), field="country"),
    "email invalid": Case("post", CUSTOMERS, body(email="not-an-email"), field="email"),
    "date impossible": Case("post", CUSTOMERS, body(last_transaction_date="2024-02-30"), field="last_transaction_date"),
    "patch wrong type": Case("patch", CUSTOMER, {"credit_limit": [1]}, field="credit_limit"),
    # --- bodies: text PostgreSQL cannot store
    "NUL in name": Case("post", CUSTOMERS, body(name="a\x00b"), field="name"),
    "NUL in code": Case("post", CUSTOMERS, body(code="C\x001"), field="code"),
    "NUL in a foreign key": Case("post", CUSTOMERS, body(owner_org="A\x00"), field="owner_org"),
    "NUL in an attribute value": Case("post", CUSTOMERS, body(attributes={"k": ["ok", "b\x00d"]}), field="attributes"),
    "NUL in an attribute key": Case("post", CUSTOMERS, body(attributes={"k\x00": 1}), field="attributes"),
    "lone surrogate in name": Case("post", CUSTOMERS, raw='{"code": "C-1", "name": "\\ud800"}', field="name"),
    "lone surrogate in attributes": Case(
        "post", CUSTOMERS, raw='{"code": "C-1", "name": "x", "attributes": {"k": "\\udfff"}}', field="attributes"
    ),
    "lone surrogate in a foreign key": Case(
        "post", CUSTOMERS, raw='{"code": "C-1", "name": "x", "owner_org": "\\ud800"}', field="owner_org"
    ),
    # --- bodies: rules of the data
    "duplicate code": Case("post", CUSTOMERS, body(code="CA-1"), field="code"),
    "duplicate code on update": Case("patch", CUSTOMER, {"code": "CA-2"}, field="code"),
    "unknown owner_org": Case("post", CUSTOMERS, body(owner_org="NOPE"), field="owner_org"),
    "owner_org of the wrong type": Case("post", CUSTOMERS, body(owner_org={"code": "A"}), field="owner_org"),
    "status merged on create": Case("post", CUSTOMERS, body(status="merged"), field="status"),
    "status merged on update": Case("patch", CUSTOMER, {"status": "merged"}, field="status"),
    "status unknown": Case("patch", CUSTOMER, {"status": "deleted"}, field="status"),
    "employee leaves before being hired": Case(
        "post",
        "/api/v1/employees/",
        {"code": "E-1", "name": "x", "org_unit": "A", "hire_date": "2024-05-01", "leave_date": "2024-04-01"},
    ),
    "employee is their own manager": Case("patch", "/api/v1/employees/{employee}/", {"manager": "E-1"}),
    "org unit under its own subtree": Case("patch", "/api/v1/org-units/{company}/", {"parent": "A-SALES"}),
    "org unit of an unknown type": Case(
        "post", "/api/v1/org-units/", {"code": "X", "name": "x", "parent": "A", "unit_type": "tribe"}, field="unit_type"
    ),
    # --- headers
    "If-Match garbage": Case("patch", CUSTOMER, {"name": "x"}, headers={"If-Match": "yesterday"}, field="If-Match"),
    "If-Match two versions": Case("patch", CUSTOMER, {"name": "x"}, headers={"If-Match": '"1", "2"'}, field="If-Match"),
    "If-Match huge number": Case(
        "patch", CUSTOMER, {"name": "x"}, headers={"If-Match": '"99999999999999999999"'}, field="If-Match"
    ),
    "If-Match garbage on delete": Case("delete", CUSTOMER, headers={"If-Match": "W/abc"}, field="If-Match"),
    "If-None-Match garbage": Case("get", CUSTOMER, headers={"If-None-Match": "<etag>"}, field="If-None-Match"),
    "NUL in the change reason": Case(
        "patch", CUSTOMER, {"name": "x"}, headers={"X-Change-Reason": "a\x00b"}, field="X-Change-Reason"
    ),
    "Content-Length not a number": Case("post", CUSTOMERS, VALID, headers={"Content-Length": "lots"}),
    "Content-Length negative": Case("post", CUSTOMERS, VALID, headers={"Content-Length": "-1"}),
}


def _send(client, case: Case, ids: dict[str, int]):
    path = case.path.format(**ids)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in case.headers.items()}
    if "HTTP_CONTENT_LENGTH" in headers:
        headers["CONTENT_LENGTH"] = headers.pop("HTTP_CONTENT_LENGTH")
    if case.method == "get":
        return client.get(path, case.query, **headers)
    payload = case.raw if case.raw is not None else json.dumps(case.body)
    return getattr(client, case.method)(path, payload, content_type="application/json", **headers)


@pytest.fixture
def ids(org, customers) -> dict[str, int]:
    employee = Employee.objects.create(code="E-1", name="Employee", org_unit=org.a)
    return {"customer": customers.a.pk, "employee": employee.pk, "company": org.a.pk}


@pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in CASES.items()])
def test_bad_input_is_a_json_400_naming_the_problem(api_a, ids, case):
    before = (Customer.objects.count(), OrgUnit.objects.count(), Employee.objects.count())

    response = _send(api_a, case, ids)

    assert response.status_code == case.status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()
    assert error["detail"]
    assert error["code"]
    if case.field:
        assert case.field in error["errors"], error
    assert (Customer.objects.count(), OrgUnit.objects.count(), Employee.objects.count()) == before


def test_an_oversized_body_is_refused_before_parsing(api_a, org, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    big = body(attributes={"blob": "x" * 2500})

    response = api_a.post(CUSTOMERS, big, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "request_too_large"
    assert "2000" in response.json()["detail"]
    assert not Customer.objects.exists()


def test_a_body_just_under_the_limit_is_accepted(api_a, org, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4000

    response = api_a.post(CUSTOMERS, body(attributes={"blob": "x" * 3000}), format="json")

    assert response.status_code == 201


def test_a_form_encoded_body_is_an_unsupported_media_type(api_a, org):
    response = api_a.post(CUSTOMERS, "code=C-1&name=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_the_errors_name_every_bad_field_at_once(api_a, org):
    response = api_a.post(CUSTOMERS, {"code": "", "credit_limit": "x", "attributes": []}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"code", "name", "credit_limit", "attributes"}


def test_as_of_before_the_record_existed_is_not_found(api_a, customers):
    response = api_a.get(f"/api/v1/customers/{customers.a.pk}/history/", {"as_of": "1990-01-01T00:00:00Z"})

    assert response.status_code == 404
    assert "did not exist" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope/",
        "/api/nope",
        "/api/v1/customers/999999/",
        "/api/v1/customers/abc/",
        "/api/v1/customers/99999999999999999999999/",
        "/api/v1/customers/%00/",
        "/api/v1/customers/1/nope/",
    ],
)
def test_unknown_api_urls_are_a_json_404(api_a, customers, path):
    response = api_a.get(path)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_method_the_endpoint_lacks_is_a_json_405(api_a, customers):
    response = api_a.post(f"/api/v1/customers/{customers.a.pk}/", {}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_an_unforeseen_error_is_a_json_500_and_logged(api_a, org, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("masterdata.services.golden.create", broken)
    api_a.raise_request_exception = False

    response = api_a.post(CUSTOMERS, VALID, format="json")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error; it has been logged.", "code": "server_error"}
    assert "bug" in caplog.text
