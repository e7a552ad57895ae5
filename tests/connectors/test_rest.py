"""The declarative REST/JSON connector against a fake CRM (``/api/customers``) over real HTTP."""

from __future__ import annotations

import pytest

from connectors.errors import AuthError, PayloadError
from connectors.protocols import Cursor, FetchSpec, get_connector
from tests.connectors.conftest import make_connection
from tests.connectors.fakes import AuthPolicy, CrmFake, data
from tests.connectors.fakes.odata import query_of
from tests.connectors.fakes.server import MALFORMED_JSON

# How each real-world pagination style is configured: pure configuration, no code.
STYLES = {
    "page": {"pagination": "page", "record_path": "data", "options": {"total_path": "total"}},
    "offset": {"pagination": "offset", "record_path": "results", "options": {"total_path": "count"}},
    "next_link": {
        "pagination": "next_link",
        "record_path": "items",
        "options": {"next_link_path": "links.next", "page_size_param": "limit"},
    },
    "link_header": {"pagination": "link_header", "options": {"page_size_param": "per_page"}},
    "cursor": {
        "pagination": "cursor",
        "record_path": "customers",
        "options": {"next_cursor_path": "paging.next_cursor", "cursor_param": "after", "page_size_param": "limit"},
    },
}


def spec_for(style: str, **extra) -> FetchSpec:
    config = {"resource": "/api/customers", "key_field": "id", "cursor_field": "updated_at", **STYLES[style]}
    options = {**config.pop("options", {}), **extra.pop("options", {})}
    return FetchSpec.from_dict({**config, **extra, "options": options})


def crm_connection(fake, **fields):
    fields.setdefault("auth_type", "bearer")
    fields.setdefault("secret", CrmFake.token)
    return make_connection("rest", fake.base_url, **fields)


def ids(pages) -> list[str]:
    return [r["id"] for p in pages for r in p.records]


def test_the_seed_crm_example_works_as_pure_configuration(crm, monkeypatch):
    """A CRM at /api/customers with a Bearer token; the mapping reads id, name, credit_score, last_order_date."""
    monkeypatch.setenv("CRM_API_TOKEN", CrmFake.token)
    connection = make_connection("rest", crm.base_url, auth_type="bearer", secret="${ENV:CRM_API_TOKEN}")
    spec = FetchSpec.from_dict(
        {
            "resource": "/api/customers",
            "record_path": "data",
            "key_field": "id",
            "pagination": "page",
            "options": {"total_path": "total"},
        }
    )
    mapping = {
        "id": "code",
        "name": "name",
        "credit_score": "credit_rating",
        "last_order_date": "last_transaction_date",
    }
    with get_connector(connection) as connector:
        records = [r for page in connector.fetch(spec) for r in page.records]
    golden = [{target: record[source] for source, target in mapping.items()} for record in records]
    assert len(golden) == 30
    assert golden[0] == {
        "code": "C1001",
        "name": "华东客户0",
        "credit_rating": 500,
        "last_transaction_date": "2024-01-01",
    }
    assert crm.requests[0].headers["Authorization"] == f"Bearer {CrmFake.token}"


@pytest.mark.parametrize("style", list(STYLES))
def test_every_pagination_style_reads_every_customer_once(style):
    with CrmFake(data.crm_customers(47), style=style) as fake:
        pages = list(get_connector(crm_connection(fake, page_size=10)).fetch(spec_for(style)))
        assert ids(pages) == [f"C{1001 + i}" for i in range(47)]
        assert pages[-1].last and not any(p.last for p in pages[:-1])
        assert len(fake.requests) == 5  # 10 + 10 + 10 + 10 + 7: no request past the end


def test_absolute_next_links_are_followed_as_given():
    with CrmFake(data.crm_customers(25), style="next_link", absolute_links=True) as fake:
        assert len(ids(get_connector(crm_connection(fake, page_size=10)).fetch(spec_for("next_link")))) == 25


def test_a_server_that_caps_the_page_size_is_still_read_to_the_end():
    with CrmFake(data.crm_customers(60), max_page_size=20) as fake:
        spec = spec_for("page", options={"total_path": None})
        pages = list(get_connector(crm_connection(fake, page_size=50)).fetch(spec))
        assert len(ids(pages)) == 60 and [len(p.records) for p in pages] == [20, 20, 20, 0]


def test_an_ordered_incremental_read_sends_updated_since_and_breaks_ties():
    records = data.crm_customers(20, ties=3)
    options = {"updated_since_param": "updated_since", "sort_params": {"ordering": "updated_at"}, "ordered": True}
    with CrmFake(records, style="offset") as fake:
        connector = get_connector(crm_connection(fake, page_size=4))
        first = next(iter(connector.fetch(spec_for("offset", options=options))))
        assert first.cursor == Cursor("2024-01-01T08:01:00Z", "C1004")
        rest = list(connector.fetch(spec_for("offset", options=options), first.cursor))
        assert ids([first]) + ids(rest) == [r["id"] for r in records]
        sent = query_of("?" + fake.requests[-1].raw_query)
        assert sent["updated_since"] == ["2024-01-01T08:01:00Z"] and sent["ordering"] == ["updated_at"]


def test_an_unordered_api_advances_the_cursor_only_when_the_run_is_complete(crm):
    start = Cursor("2023-12-31T00:00:00Z", None)
    pages = list(get_connector(crm_connection(crm, page_size=10)).fetch(spec_for("page"), start))
    assert [p.cursor for p in pages[:-1]] == [start, start]
    assert pages[-1].cursor == Cursor("2024-01-01T08:29:00Z", "C1030")


def test_records_older_than_the_cursor_are_dropped_when_the_api_cannot_filter(crm):
    pages = list(get_connector(crm_connection(crm)).fetch(spec_for("page"), Cursor("2024-01-01T08:25:00Z", "C1026")))
    assert ids(pages) == ["C1027", "C1028", "C1029", "C1030"]


@pytest.mark.parametrize("style", ["epoch", "epoch_ms", "date"])
def test_updated_since_can_be_sent_as_epoch_or_date(crm, style):
    options = {"updated_since_param": "since", "updated_since_format": style}
    list(get_connector(crm_connection(crm)).fetch(spec_for("page", options=options), Cursor("2024-01-01T08:00:30Z")))
    expected = {"epoch": "1704096030", "epoch_ms": "1704096030000", "date": "2024-01-01"}[style]
    assert query_of("?" + crm.requests[0].raw_query)["since"] == [expected]


@pytest.mark.parametrize("token, status", [("wrong-token", 401), ("read-nothing-token", 403)])
def test_refused_tokens_raise_auth_error(crm, token, status):
    with pytest.raises(AuthError) as caught:
        list(get_connector(crm_connection(crm, secret=token)).fetch(spec_for("page")))
    assert caught.value.status == status


def test_api_key_and_basic_auth_are_configuration_too():
    policy = AuthPolicy(api_keys={"X-Api-Key": "k-123"}, basic={"mdm": "pw"})
    with CrmFake(data.crm_customers(3), auth=policy) as fake:
        by_key = crm_connection(fake, auth_type="api_key", api_key_header="X-Api-Key", secret="k-123")
        by_user = crm_connection(fake, auth_type="basic", username="mdm", secret="pw")
        assert len(ids(get_connector(by_key).fetch(spec_for("page")))) == 3
        assert len(ids(get_connector(by_user).fetch(spec_for("page")))) == 3


def test_malformed_json_raises_payload_error_with_the_raw_body(crm):
    crm.malformed(after=1)
    pages = get_connector(crm_connection(crm, page_size=10)).fetch(spec_for("page"))
    next(pages)
    with pytest.raises(PayloadError) as caught:
        next(pages)
    assert caught.value.raw == MALFORMED_JSON


def test_a_missing_record_list_is_a_payload_error(crm):
    with pytest.raises(PayloadError, match="no record list at 'customers'"):
        list(get_connector(crm_connection(crm)).fetch(spec_for("page", record_path="customers")))


def test_an_api_that_ignores_its_paging_parameters_is_detected(crm):
    spec = spec_for("page", pagination="offset", record_path="data", options={"total_path": None})
    with pytest.raises(PayloadError, match="does not advance"):
        list(get_connector(crm_connection(crm, page_size=20)).fetch(spec))


def test_a_record_with_a_wrong_type_is_delivered_as_served(crm):
    crm.records[4]["credit_score"] = "excellent"
    crm.records[5]["updated_at"] = None
    records = {r["id"]: r for p in get_connector(crm_connection(crm)).fetch(spec_for("page")) for r in p.records}
    assert records["C1005"]["credit_score"] == "excellent" and records["C1006"]["updated_at"] is None


def test_check_probes_one_record(crm):
    result = get_connector(crm_connection(crm)).check(spec_for("page"))
    assert result.ok and result.message == "/api/customers answered with 1 record(s)"
    assert query_of("?" + crm.requests[-1].raw_query)["page_size"] == ["1"]
    assert not get_connector(crm_connection(crm, secret="bad")).check(spec_for("page")).ok
