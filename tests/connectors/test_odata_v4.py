"""OData v4 against a fake SAP S/4HANA API_BUSINESS_PARTNER (A_BusinessPartner) over real HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from connectors.errors import AuthError, ConnectorError, PayloadError, TransientError
from connectors.protocols import Cursor, FetchSpec, get_connector
from connectors.protocols.odata import odata_string
from tests.connectors.conftest import SAP_PASSWORD, SAP_USER, make_connection, sap_connection
from tests.connectors.fakes import AuthPolicy, ODataV4Fake, data
from tests.connectors.fakes.odata import query_of
from tests.connectors.fakes.server import MALFORMED_JSON

PARTNERS = FetchSpec(resource="A_BusinessPartner", key_field="BusinessPartner", cursor_field="LastChangeDateTime")
AUTH = AuthPolicy(basic={SAP_USER: SAP_PASSWORD})


def keys(pages) -> list[str]:
    return [record["BusinessPartner"] for page in pages for record in page.records]


def test_reads_every_partner_through_server_driven_pages(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4", page_size=10))
    pages = list(connector.fetch(PARTNERS))
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert keys(pages) == [r["BusinessPartner"] for r in odata_v4.entity_set("A_BusinessPartner").records]
    assert [p.last for p in pages] == [False, False, True] and {p.total for p in pages} == {25}
    first, following = odata_v4.requests[0], odata_v4.requests[1:]
    assert first.headers["Prefer"] == "odata.maxpagesize=10" and first.headers["OData-MaxVersion"] == "4.0"
    assert query_of("?" + first.raw_query)["$orderby"] == ["LastChangeDateTime asc,BusinessPartner asc"]
    assert query_of("?" + first.raw_query)["$count"] == ["true"]
    assert [query_of("?" + r.raw_query)["$skiptoken"] for r in following] == [["10"], ["20"]]
    assert pages[0].records[0]["LastChangeDateTime"] == "2024-01-01T08:00:00Z"


@pytest.mark.parametrize("context", ["absolute", "relative", "none"])
def test_follows_relative_next_links_against_the_context_url(context):
    with ODataV4Fake(data.business_partners(12), auth=AUTH, next_link="relative", context=context) as fake:
        pages = list(get_connector(sap_connection(fake, "odata_v4", page_size=5)).fetch(PARTNERS))
        assert len(keys(pages)) == 12 and len(set(keys(pages))) == 12
        assert all(r.path == "/odata/v4/API_BUSINESS_PARTNER/A_BusinessPartner" for r in fake.requests)


def test_client_paging_uses_top_and_skip(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4", page_size=10))
    pages = list(connector.fetch(FetchSpec.from_dict({**PARTNERS.to_dict(), "pagination": "client"})))
    assert len(keys(pages)) == 25
    sent = [query_of("?" + r.raw_query) for r in odata_v4.requests]
    assert [(q["$top"], q.get("$skip")) for q in sent] == [(["10"], None), (["10"], ["10"]), (["10"], ["20"])]
    assert "Prefer" not in odata_v4.requests[0].headers


def test_an_incremental_read_returns_only_newer_partners_and_breaks_ties():
    records = data.business_partners(20, ties=3)  # three partners share each timestamp
    with ODataV4Fake(records, auth=AUTH) as fake:
        connector = get_connector(sap_connection(fake, "odata_v4", page_size=4))
        first_page = next(iter(connector.fetch(PARTNERS)))
        assert first_page.cursor == Cursor("2024-01-01T08:01:00Z", "1000003")  # mid-way through a tie
        rest = list(connector.fetch(PARTNERS, first_page.cursor))
        assert keys([first_page]) + keys(rest) == [r["BusinessPartner"] for r in records]
        sent = query_of("?" + fake.requests[-1].raw_query)["$filter"]
        assert sent == ["LastChangeDateTime ge 2024-01-01T08:01:00Z"]
        assert rest[0].skipped == 1  # 1000003 came back from the server and was dropped as delivered
        assert next(iter(connector.fetch(PARTNERS, rest[-1].cursor))).records == []


def test_the_cursor_advances_with_every_page_and_picks_up_later_changes(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4", page_size=10))
    pages = list(connector.fetch(PARTNERS))
    cursors = [p.cursor for p in pages]
    assert cursors[-1] == Cursor("2024-01-01T08:24:00Z", "1000024")
    assert cursors[0].value < cursors[1].value < cursors[2].value
    changed = odata_v4.entity_set("A_BusinessPartner").records[3]
    changed["LastChangeDateTime"] += timedelta(hours=2)
    again = list(connector.fetch(PARTNERS, cursors[-1]))
    assert keys(again) == ["1000003"] and again[-1].cursor == Cursor("2024-01-01T10:03:00Z", "1000003")


def test_a_lookback_window_reads_recent_changes_again(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    spec = FetchSpec.from_dict({**PARTNERS.to_dict(), "lookback_seconds": 120})
    pages = list(connector.fetch(spec, Cursor("2024-01-01T08:10:00Z", "1000010")))
    assert keys(pages)[:3] == ["1000008", "1000009", "1000010"]


def test_a_filter_with_a_quote_is_escaped_by_doubling(odata_v4):
    odata_v4.entity_set("A_BusinessPartner").records[5]["BusinessPartnerFullName"] = "O'Neil & Söhne"
    name_filter = f"BusinessPartnerFullName eq {odata_string('O' + chr(39) + 'Neil & Söhne')}"
    spec = FetchSpec.from_dict({**PARTNERS.to_dict(), "filter": name_filter})
    pages = list(get_connector(sap_connection(odata_v4, "odata_v4")).fetch(spec, Cursor("2023-01-01T00:00:00Z")))
    assert keys(pages) == ["1000005"]
    assert "O''Neil" in query_of("?" + odata_v4.requests[-1].raw_query)["$filter"][0]


def test_select_always_brings_the_key_and_cursor(odata_v4):
    spec = FetchSpec.from_dict({**PARTNERS.to_dict(), "select": ["BusinessPartnerFullName"]})
    record = next(iter(get_connector(sap_connection(odata_v4, "odata_v4")).fetch(spec))).records[0]
    assert set(record) == {"BusinessPartnerFullName", "BusinessPartner", "LastChangeDateTime"}


def test_a_record_with_a_wrong_type_is_delivered_as_served(odata_v4):
    records = odata_v4.entity_set("A_BusinessPartner").records
    records[2]["BusinessPartnerFullName"] = 4711
    records[24]["LastChangeDateTime"] = "yesterday"
    pages = list(get_connector(sap_connection(odata_v4, "odata_v4", page_size=10)).fetch(PARTNERS))
    delivered = {r["BusinessPartner"]: r for p in pages for r in p.records}
    assert delivered["1000002"]["BusinessPartnerFullName"] == 4711
    assert delivered["1000024"]["LastChangeDateTime"] == "yesterday"
    assert pages[-1].cursor == Cursor("2024-01-01T08:23:00Z", "1000023")  # the bad value does not move it


def test_a_wrong_password_raises_auth_error_without_leaking_it(odata_v4):
    connector = get_connector(
        make_connection("odata_v4", odata_v4.base_url, auth_type="basic", username=SAP_USER, secret="wrong-Passw0rd")
    )
    with pytest.raises(AuthError) as caught:
        list(connector.fetch(PARTNERS))
    assert caught.value.status == 401 and "wrong-Passw0rd" not in str(caught.value)


def test_a_forbidden_answer_raises_auth_error(odata_v4):
    odata_v4.fail(403)
    with pytest.raises(AuthError) as caught:
        list(get_connector(sap_connection(odata_v4, "odata_v4")).fetch(PARTNERS))
    assert caught.value.status == 403 and "injected 403" in str(caught.value)


def test_malformed_json_on_a_later_page_raises_payload_error_with_the_raw_body(odata_v4):
    odata_v4.malformed(after=1)
    pages = get_connector(sap_connection(odata_v4, "odata_v4", page_size=10)).fetch(PARTNERS)
    assert len(next(pages).records) == 10
    with pytest.raises(PayloadError) as caught:
        next(pages)
    assert caught.value.raw == MALFORMED_JSON and "skiptoken=10" in caught.value.url


def test_a_body_without_value_is_a_payload_error(odata_v4):
    odata_v4.inject(200, '{"d": {"results": []}}', headers={"Content-Type": "application/json"})
    with pytest.raises(PayloadError, match=r"no record list at value"):
        list(get_connector(sap_connection(odata_v4, "odata_v4")).fetch(PARTNERS))


def test_too_many_requests_raises_transient_error_with_retry_after(odata_v4):
    odata_v4.fail(429, retry_after="7")
    with pytest.raises(TransientError) as caught:
        list(get_connector(sap_connection(odata_v4, "odata_v4")).fetch(PARTNERS))
    assert caught.value.status == 429 and caught.value.retry_after == 7


def test_an_unknown_property_is_a_connector_error_naming_it(odata_v4):
    spec = FetchSpec.from_dict({**PARTNERS.to_dict(), "select": ["NoSuchProperty"]})
    with pytest.raises(ConnectorError) as caught:
        list(get_connector(sap_connection(odata_v4, "odata_v4")).fetch(spec))
    assert caught.value.status == 400 and "NoSuchProperty" in str(caught.value)


def test_check_reports_success_and_failure_without_raising(odata_v4):
    assert get_connector(sap_connection(odata_v4, "odata_v4")).check().ok
    assert get_connector(sap_connection(odata_v4, "odata_v4")).check(PARTNERS).message.endswith("1 record(s)")
    refused = get_connector(make_connection("odata_v4", odata_v4.base_url)).check()
    assert not refused.ok and refused.status == 401 and refused.details["error"] == "AuthError"


def test_ten_thousand_partners_read_quickly_in_large_pages():
    with ODataV4Fake(data.business_partners(10_000, step=1), auth=AUTH) as fake:
        started = time.monotonic()
        with get_connector(sap_connection(fake, "odata_v4", page_size=1000)) as connector:
            pages = list(connector.fetch(PARTNERS))
        assert sum(len(p.records) for p in pages) == 10_000 and len(pages) == 10
        assert time.monotonic() - started < 30
        assert len({r.client_port for r in fake.requests}) == 1  # one kept-alive connection
