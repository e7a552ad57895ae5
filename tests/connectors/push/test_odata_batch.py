"""OData writes go in $batch requests unless the service says (or shows) it takes none."""

from __future__ import annotations

import json

import pytest

from connectors.protocols import Outgoing, PushSpec, get_connector
from connectors.protocols.odata_batch import batch_supported_in_metadata
from tests.connectors.conftest import make_connection, sap_connection
from tests.connectors.fakes import ODataV2Fake, ODataV4Fake, data

PARTNERS = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", lookup_field="SearchTerm1")


def three_writes() -> list[Outgoing]:
    return [
        Outgoing(1, {"OrganizationBPName1": "New One", "SearchTerm1": "N-1"}),
        Outgoing(2, {"OrganizationBPName1": "New Two", "SearchTerm1": "N-2"}),
        Outgoing(3, {}, changes={"OrganizationBPName1": "Changed"}, key="1000001", etag='W/"1"'),
    ]


def writes_sent(fake) -> list[tuple[str, str]]:
    return [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests]


def test_a_service_that_declares_nothing_gets_its_writes_in_one_json_batch(odata_v4):
    results = get_connector(sap_connection(odata_v4, "odata_v4")).send(PARTNERS, three_writes())

    assert writes_sent(odata_v4) == [("GET", "$metadata"), ("POST", "$batch")]
    assert odata_v4.batches == [3] and all(sent.ok for sent in results)
    assert results[0].created and results[1].created and results[2].etag == 'W/"2"'


@pytest.mark.parametrize("annotation", ["unsupported", "unsupported_record"])
def test_a_service_whose_metadata_says_no_batch_gets_single_requests(annotation):
    with ODataV4Fake(data.business_partners(3), batch_annotation=annotation) as fake:
        results = get_connector(sap_connection(fake, "odata_v4")).send(PARTNERS, three_writes())

    assert fake.batches == [] and all(sent.ok for sent in results)
    first, *writes = writes_sent(fake)
    assert first == ("GET", "$metadata")
    assert sorted(method for method, _ in writes) == ["PATCH", "POST", "POST"]  # sent side by side: any order


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_refused_batch_falls_back_to_single_requests_and_is_remembered(status):
    with ODataV4Fake(data.business_partners(3), batch_status=status) as fake:
        connection = sap_connection(fake, "odata_v4")
        first = get_connector(connection).send(PARTNERS, three_writes()[:2])
        fake.requests.clear()
        again = get_connector(connection).send(PARTNERS, [three_writes()[2], Outgoing(4, {"SearchTerm1": "N-4"})])

    assert all(sent.ok for sent in first + again)
    operations = [op for op, *_ in fake.writes]
    assert operations[:2] == ["create", "create"] and sorted(operations[2:]) == ["create", "update"]  # per round
    assert ("POST", "$batch") not in writes_sent(fake)  # the second round did not try again


def test_the_connection_option_overrides_what_the_service_declares():
    with ODataV4Fake(data.business_partners(3), batch_annotation="unsupported") as fake:
        forced = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", options={"batch": True})
        get_connector(sap_connection(fake, "odata_v4")).send(forced, three_writes())
        assert writes_sent(fake) == [("POST", "$batch")]  # $metadata not even read
    with ODataV4Fake(data.business_partners(3)) as fake:
        never = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", options={"batch": False})
        get_connector(sap_connection(fake, "odata_v4")).send(never, three_writes())
        assert fake.batches == [] and len(fake.writes) == 3


def test_a_refused_write_inside_the_batch_fails_alone_and_a_stale_etag_is_read_again(odata_v4):
    odata_v4.change_remotely("A_BusinessPartner", "1000002", OrganizationBPName1="Changed in SAP")
    items = [
        Outgoing(1, {"BusinessPartner": "1000000", "OrganizationBPName1": "Taken key"}),  # exists: 409
        Outgoing(2, {}, changes={"OrganizationBPName1": "Ours"}, key="1000002", etag='W/"1"'),  # stale: 412
        Outgoing(3, {"OrganizationBPName1": "Fine"}),
    ]
    refused, stale, fine = get_connector(sap_connection(odata_v4, "odata_v4")).send(PARTNERS, items)

    assert refused.status == 409 and refused.attempted and not refused.ok
    assert stale.status == 412 and stale.remote["OrganizationBPName1"] == "Changed in SAP"
    assert fine.ok and fine.created


def sap_v2(records: int = 3, **kwargs) -> ODataV2Fake:
    return ODataV2Fake(entity_sets=[ODataV2Fake.business_partner_set(data.business_partners(records))],
                       root_path="/sap/opu/odata/sap/API_BUSINESS_PARTNER", assign_keys=True, **kwargs)  # fmt: skip


def test_sap_gateway_gets_a_multipart_batch_with_one_change_set_per_write():
    items = [
        Outgoing(1, {"OrganizationBPName1": "SAP Neu"}),
        Outgoing(2, {"BusinessPartner": "1000000", "OrganizationBPName1": "Taken key"}),  # exists: 409
        Outgoing(3, {}, changes={"OrganizationBPName1": "Geändert"}, key="1000001", etag='W/"1"'),
    ]
    with sap_v2() as fake:
        created, refused, updated = get_connector(make_connection("odata_v2", fake.base_url)).send(PARTNERS, items)

    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests] == [
        ("GET", "$metadata"),
        ("GET", ""),
        ("POST", "$batch"),
    ]  # fmt: skip  (the CSRF token is fetched at the root)
    batch = fake.requests[-1]
    assert batch.headers["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    assert batch.headers["x-csrf-token"] in fake.csrf_tokens and batch.body.count(b"boundary=changeset_") == 3
    assert created.ok and created.created and created.key and created.etag == 'W/"1"'
    assert refused.status == 409 and not refused.ok
    assert updated.ok and updated.etag == 'W/"2"'
    assert fake.find(fake.entity_set("A_BusinessPartner"), "1000001")["OrganizationBPName1"] == "Geändert"


def test_the_capabilities_vocabulary_is_read_by_alias_or_full_name_and_defaults_to_supported():
    def csdl(annotation: str, alias: str = "Capabilities") -> str:
        return (
            '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
            f'<edmx:Reference Uri="x"><edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="{alias}"/>'
            '</edmx:Reference><edmx:DataServices><Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" '
            f'Namespace="S"><EntityContainer Name="C">{annotation}</EntityContainer></Schema>'
            "</edmx:DataServices></edmx:Edmx>"
        )

    assert batch_supported_in_metadata(csdl("")) is True
    assert batch_supported_in_metadata(csdl('<Annotation Term="Cap.BatchSupported" Bool="false"/>', "Cap")) is False
    assert batch_supported_in_metadata(csdl('<Annotation Term="Capabilities.BatchSupported"><Bool>false</Bool>'
                                            "</Annotation>")) is False  # fmt: skip
    assert batch_supported_in_metadata(csdl('<Annotation Term="Capabilities.BatchSupported"/>')) is True
    assert batch_supported_in_metadata(csdl('<Annotation Term="Other.BatchSupported" Bool="false"/>')) is True
    assert batch_supported_in_metadata("not xml at all") is True


def test_the_batch_body_is_json_per_odata_4_01(odata_v4):
    get_connector(sap_connection(odata_v4, "odata_v4")).send(PARTNERS, three_writes())
    sent = json.loads(odata_v4.requests[-1].body)

    assert [(r["id"], r["method"], r["url"]) for r in sent["requests"]] == [
        ("0", "POST", "A_BusinessPartner"), ("1", "POST", "A_BusinessPartner"),
        ("2", "PATCH", "A_BusinessPartner('1000001')")]  # fmt: skip
    assert sent["requests"][2]["headers"]["If-Match"] == 'W/"1"'
