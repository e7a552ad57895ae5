"""OData v2 as SAP Gateway serves API_PRODUCT_SRV and API_BUSINESS_PARTNER, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.errors import AuthError, ConnectorError, PayloadError
from connectors.protocols import Cursor, FetchSpec, get_connector
from connectors.protocols.base import parse_timestamp
from connectors.protocols.odata import normalize_v2, odata_literal, parse_edm_time
from tests.connectors.conftest import SAP_PASSWORD, SAP_USER, make_connection, sap_connection
from tests.connectors.fakes import AuthPolicy, ODataV2Fake, data
from tests.connectors.fakes.odata import query_of

PRODUCTS = FetchSpec(resource="A_Product", key_field="Product", cursor_field="LastChangeDateTime")
AUTH = AuthPolicy(basic={SAP_USER: SAP_PASSWORD})


def keys(pages, field="Product") -> list[str]:
    return [record[field] for page in pages for record in page.records]


def sent(fake) -> list[dict[str, list[str]]]:
    return [query_of("?" + r.raw_query) for r in fake.requests]


def test_reads_every_product_in_top_skip_windows_with_the_inline_count(odata_v2):
    pages = list(get_connector(sap_connection(odata_v2, "odata_v2", page_size=10)).fetch(PRODUCTS))
    assert keys(pages) == [f"MAT-{i:06d}" for i in range(25)]
    assert {p.total for p in pages} == {25}
    assert [(q["$top"], q.get("$skip")) for q in sent(odata_v2)] == [(["10"], None), (["10"], ["10"]), (["10"], ["20"])]
    assert sent(odata_v2)[0]["$inlinecount"] == ["allpages"]


def test_sap_dates_become_iso_and_protocol_noise_is_dropped(odata_v2):
    spec = FetchSpec.from_dict({**PRODUCTS.to_dict(), "expand": ["to_Description"]})
    record = next(iter(get_connector(sap_connection(odata_v2, "odata_v2")).fetch(spec))).records[0]
    assert record["CreationDate"] == "2024-01-01T00:00:00Z"  # /Date(1704067200000)/
    assert record["LastChangeDateTime"] == "2024-01-01T08:00:00Z"  # /Date(1704096000000+0000)/
    assert record["to_Description"][1] == {"Product": "MAT-000000", "Language": "ZH", "ProductDescription": "物料0"}
    assert record["__metadata"]["type"] == "API_PRODUCT_SRV.A_ProductType"
    plain = next(iter(get_connector(sap_connection(odata_v2, "odata_v2")).fetch(PRODUCTS))).records[0]
    assert "to_Description" not in plain  # the __deferred stub


def test_raw_v2_payloads_are_kept_when_normalisation_is_off(odata_v2):
    spec = FetchSpec.from_dict({**PRODUCTS.to_dict(), "options": {"normalize": False}})
    record = next(iter(get_connector(sap_connection(odata_v2, "odata_v2")).fetch(spec))).records[0]
    assert record["LastChangeDateTime"] == "/Date(1704096000000+0000)/"
    assert record["to_Description"] == {"__deferred": {"uri": record["__metadata"]["uri"] + "/to_Description"}}


def test_server_paging_with_next_inside_a_window_is_followed():
    with ODataV2Fake(data.products(23), auth=AUTH, server_page_size=3) as fake:
        pages = list(get_connector(sap_connection(fake, "odata_v2", page_size=5)).fetch(PRODUCTS))
        assert keys(pages) == [f"MAT-{i:06d}" for i in range(23)]
        skiptokens = [q.get("$skiptoken") for q in sent(fake)]
        assert skiptokens[:3] == [None, ["3"], None]  # window 1 = 3 + 2 via __next, then window 2


def test_an_incremental_read_uses_a_datetimeoffset_literal_and_breaks_ties():
    records = data.products(12, ties=4)
    with ODataV2Fake(records, auth=AUTH) as fake:
        connector = get_connector(sap_connection(fake, "odata_v2", page_size=5))
        first = next(iter(connector.fetch(PRODUCTS)))
        assert first.cursor == Cursor("2024-01-01T08:01:00Z", "MAT-000004")
        rest = list(connector.fetch(PRODUCTS, first.cursor))
        assert keys([first]) + keys(rest) == [r["Product"] for r in records]
        assert sent(fake)[-1]["$filter"] == ["LastChangeDateTime ge datetimeoffset'2024-01-01T08:01:00Z'"]


def test_a_literal_of_the_wrong_kind_is_refused_as_sap_does(odata_v2):
    spec = FetchSpec.from_dict({**PRODUCTS.to_dict(), "options": {"cursor_literal": "iso"}})
    with pytest.raises(ConnectorError) as caught:
        list(get_connector(sap_connection(odata_v2, "odata_v2")).fetch(spec, Cursor("2024-01-01T08:00:00Z")))
    assert caught.value.status == 400 and "datetime" in str(caught.value)


def test_business_partners_are_read_incrementally_by_change_date_and_time():
    records = data.business_partners(30, step=7 * 3600, ties=2)  # spans several days
    partner_set = ODataV2Fake.business_partner_set(records)
    spec = FetchSpec(
        resource="A_BusinessPartner",
        key_field="BusinessPartner",
        cursor_field="LastChangeDate",
        options={"cursor_literal": "datetime", "cursor_time_field": "LastChangeTime"},
    )
    with ODataV2Fake(entity_sets=[partner_set], root_path="/sap/opu/odata/sap/API_BUSINESS_PARTNER", auth=AUTH) as fake:
        connector = get_connector(sap_connection(fake, "odata_v2", page_size=7))
        pages = list(connector.fetch(spec))
        assert keys(pages, "BusinessPartner") == [r["BusinessPartner"] for r in records]
        assert sent(fake)[0]["$orderby"] == ["LastChangeDate asc,LastChangeTime asc,BusinessPartner asc"]
        middle = pages[1].cursor  # after 14 partners: the 7th timestamp, 6 × 7 h after Jan 1 08:00
        assert middle == Cursor("2024-01-03T02:00:00Z", "1000013")
        rest = list(connector.fetch(spec, middle))
        assert keys(rest, "BusinessPartner") == [r["BusinessPartner"] for r in records[14:]]
        assert sent(fake)[-1]["$filter"] == ["LastChangeDate ge datetime'2024-01-03T00:00:00'"]
        assert rest[0].skipped > 0  # same day, earlier time: read again by date, dropped by date + time


def test_an_html_logon_page_instead_of_json_is_a_payload_error(odata_v2):
    page = "<html><body>SAP NetWeaver Logon</body></html>"
    odata_v2.inject(200, page, headers={"Content-Type": "text/html"})
    with pytest.raises(PayloadError) as caught:
        list(get_connector(sap_connection(odata_v2, "odata_v2")).fetch(PRODUCTS))
    assert caught.value.raw == page


def test_the_sap_error_message_is_reported(odata_v2):
    with pytest.raises(AuthError) as caught:
        list(
            get_connector(
                make_connection("odata_v2", odata_v2.base_url, auth_type="basic", username=SAP_USER, secret="nope")
            ).fetch(PRODUCTS)
        )
    assert caught.value.status == 401 and "unauthorised" in caught.value.message


def test_the_session_fetches_a_csrf_token_for_later_writes(odata_v2):
    connector = get_connector(sap_connection(odata_v2, "odata_v2"))
    token = connector.http.fetch_csrf_token("")
    assert token in odata_v2.csrf_tokens
    response = connector.http.request("POST", "A_Product", json_body={"Product": "MAT-NEW", "ProductType": "FERT"})
    assert response.status_code == 201 and odata_v2.entity_set("A_Product").records[-1]["Product"] == "MAT-NEW"
    assert odata_v2.requests[-1].headers["x-csrf-token"] == token


def test_a_write_without_the_csrf_token_is_refused(odata_v2):
    connector = get_connector(sap_connection(odata_v2, "odata_v2"))
    with pytest.raises(ConnectorError) as caught:
        connector.http.request("POST", "A_Product", json_body={"Product": "MAT-NEW"})
    assert caught.value.status == 403


def test_check_reads_the_service_document(odata_v2):
    result = get_connector(sap_connection(odata_v2, "odata_v2")).check()
    assert result.ok and result.message == "service document lists 1 entity sets"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/Date(1704096000000)/", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("/Date(1704096000000+0000)/", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("/Date(1704096000000+0060)/", datetime(2024, 1, 1, 8, tzinfo=UTC)),  # the ticks are UTC
        ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC)),
        ("2024-01-01T09:00:00+01:00", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("2024-01-01T08:00:00.1234567Z", datetime(2024, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
        ("/Date(abc)/", None),
        (1704096000, None),
    ],
)
def test_timestamps_in_every_odata_form_parse_to_utc(value, expected):
    assert parse_timestamp(value) == expected


def test_edm_time_literals_and_normalisation():
    assert parse_edm_time("PT14H30M05S") == timedelta(hours=14, minutes=30, seconds=5)
    assert parse_edm_time("PT") is None and parse_edm_time("14:30") is None
    moment = datetime(2024, 1, 1, 8, 30, 15, 500, tzinfo=UTC)
    assert odata_literal(moment, "datetime") == "datetime'2024-01-01T08:30:15'"
    assert odata_literal(moment, "datetimeoffset") == "datetimeoffset'2024-01-01T08:30:15Z'"
    assert odata_literal(moment, "iso") == "2024-01-01T08:30:15Z"
    assert odata_literal("O'Neil", "string") == "'O''Neil'"
    assert normalize_v2({"d": "/Date(0)/", "n": {"results": [{"x": 1}]}, "s": {"__deferred": {}}}) == {
        "d": "1970-01-01T00:00:00Z",
        "n": [{"x": 1}],
    }
