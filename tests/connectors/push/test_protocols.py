"""Each protocol writes to a protocol-true fake target over real HTTP: create, update, ETags, recovery."""

from __future__ import annotations

import json
import time

import pytest

from connectors.errors import ConnectorError, PreconditionFailed, TransientError
from connectors.protocols import Outgoing, PushSpec, get_connector
from connectors.protocols.scim import ENTERPRISE_USER, PATCH_OP
from tests.connectors.conftest import make_connection, sap_connection
from tests.connectors.fakes import CrmFake, ODataV2Fake, ScimFake, data

PARTNERS = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", lookup_field="SearchTerm1")
CRM = PushSpec(resource="/api/customers", key_field="id", lookup_field="code")
USERS = PushSpec(resource="/Users", key_field="id", lookup_field="externalId")


def crm_connector(fake: CrmFake):
    return get_connector(make_connection("rest", fake.base_url, auth_type="bearer", secret=CrmFake.token))


def scim_connector(fake: ScimFake):
    return get_connector(make_connection("scim", fake.base_url, auth_type="bearer", secret=ScimFake.token))


# --- OData v4 ------------------------------------------------------------------------------------
def test_odata_v4_creates_with_post_and_learns_the_key_and_etag_from_the_answer(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    [sent] = connector.send(PARTNERS, [Outgoing(1, {"OrganizationBPName1": "Neu GmbH", "SearchTerm1": "C-1"})])

    assert sent.ok and sent.created and sent.status == 201
    assert odata_v4.writes == [("create", sent.key, {"OrganizationBPName1": "Neu GmbH", "SearchTerm1": "C-1"})]
    assert sent.etag == 'W/"1"'
    request = odata_v4.requests[-1]
    assert (request.method, request.headers["Prefer"]) == ("POST", "return=representation")


def test_odata_v4_reads_the_key_from_the_entity_id_when_the_service_answers_no_content(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    connector.send(PARTNERS, [Outgoing(1, {"OrganizationBPName1": "First"})])  # a key is assigned
    spec = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", options={})
    odata_v4.requests.clear()
    minimal = connector._create(spec, Outgoing(2, {"OrganizationBPName1": "Second"}))
    assert minimal.key == odata_v4.writes[-1][1]


def test_odata_v4_updates_only_the_changes_with_patch_and_if_match(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    body = {"OrganizationBPName1": "Renamed", "SearchTerm1": "P0"}
    item = Outgoing(1, body, changes={"OrganizationBPName1": "Renamed"}, key="1000000", etag='W/"1"')
    [sent] = connector.send(PARTNERS, [item])

    assert sent.ok and not sent.created and sent.etag == 'W/"2"'
    request = odata_v4.requests[-1]
    assert (request.method, request.path) == ("PATCH", "/odata/v4/API_BUSINESS_PARTNER/A_BusinessPartner('1000000')")
    assert request.headers["If-Match"] == 'W/"1"' and json.loads(request.body) == {"OrganizationBPName1": "Renamed"}
    assert odata_v4.find(odata_v4.entity_set("A_BusinessPartner"), "1000000")["OrganizationBPName1"] == "Renamed"


def test_odata_a_stale_etag_is_a_precondition_failure_with_the_record_read_again(odata_v4):
    odata_v4.change_remotely("A_BusinessPartner", "1000000", OrganizationBPName1="Changed in SAP")
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    [sent] = connector.send(PARTNERS, [Outgoing(1, {"SearchTerm1": "X"}, key="1000000", etag='W/"1"')])

    assert isinstance(sent.error, PreconditionFailed) and sent.status == 412
    assert sent.remote["OrganizationBPName1"] == "Changed in SAP" and sent.etag == 'W/"2"'
    assert odata_v4.writes == []


def test_odata_a_create_that_may_have_arrived_is_looked_up_before_writing_again(odata_v4):
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    [first] = connector.send(PARTNERS, [Outgoing(1, {"OrganizationBPName1": "Once", "SearchTerm1": "C-7"})])
    [again] = connector.send(PARTNERS, [Outgoing(1, {"OrganizationBPName1": "Once", "SearchTerm1": "C-7"},
                                                 lookup_value="C-7", recover=True)])  # fmt: skip

    assert again.ok and not again.created and again.key == first.key
    assert [w[0] for w in odata_v4.writes] == ["create", "update"]


def test_odata_v2_fetches_the_csrf_token_before_writing_and_reads_the_d_envelope():
    with ODataV2Fake(entity_sets=[ODataV2Fake.business_partner_set(data.business_partners(3))],
                     root_path="/sap/opu/odata/sap/API_BUSINESS_PARTNER", assign_keys=True,
                     auth=None) as fake:  # fmt: skip
        connector = get_connector(make_connection("odata_v2", fake.base_url))
        [created] = connector.send(PARTNERS, [Outgoing(1, {"OrganizationBPName1": "SAP Neu"})])
        [updated] = connector.send(PARTNERS, [Outgoing(1, {"OrganizationBPName1": "SAP Neu 2"}, key=created.key,
                                                       etag=created.etag)])  # fmt: skip

    assert created.ok and created.created and created.key and created.etag == 'W/"1"'
    assert updated.ok and updated.etag == 'W/"2"'
    writes = [r for r in fake.requests if r.method != "GET"]
    assert all(r.headers["x-csrf-token"] in fake.csrf_tokens for r in writes)
    assert fake.requests[0].headers["x-csrf-token"] == "Fetch"


def test_odata_v2_merge_is_tunnelled_through_post():
    with ODataV2Fake(entity_sets=[ODataV2Fake.business_partner_set(data.business_partners(1))],
                     root_path="/sap/opu/odata/sap/API_BUSINESS_PARTNER") as fake:  # fmt: skip
        connector = get_connector(make_connection("odata_v2", fake.base_url))
        spec = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", options={"update_method": "MERGE"})
        [sent] = connector.send(spec, [Outgoing(1, {"OrganizationBPName1": "Merged"}, key="1000000")])

    assert sent.ok
    assert (fake.requests[-1].method, fake.requests[-1].headers["X-HTTP-Method"]) == ("POST", "MERGE")


# --- REST ----------------------------------------------------------------------------------------
def test_rest_creates_with_post_then_patches_the_record_path(crm):
    connector = crm_connector(crm)
    [created] = connector.send(CRM, [Outgoing(1, {"code": "C-1", "name": "Alpha"})])
    [updated] = connector.send(CRM, [Outgoing(1, {"code": "C-1", "name": "Beta"}, changes={"name": "Beta"},
                                              key=created.key, etag=created.etag)])  # fmt: skip

    assert created.created and created.key.startswith("crm-")
    assert updated.ok and crm.find(created.key)["name"] == "Beta"
    patch = crm.requests[-1]
    assert (patch.method, patch.path, json.loads(patch.body)) == ("PATCH", f"/api/customers/{created.key}",
                                                                  {"name": "Beta"})  # fmt: skip
    assert patch.headers["If-Match"] == created.etag


def test_rest_methods_paths_and_envelope_are_configuration(crm):
    spec = PushSpec(resource="/api/customers", key_field="id",
                    options={"update_method": "PUT", "update_path": "/api/customers/{key}/"})  # fmt: skip
    connector = crm_connector(crm)
    [sent] = connector.send(spec, [Outgoing(1, {"name": "Whole"}, changes={"name": "Whole"}, key="C1001")])

    assert sent.ok and (crm.requests[-1].method, crm.requests[-1].path) == ("PUT", "/api/customers/C1001/")
    assert set(crm.find("C1001")) == {"id", "name", "updated_at"}  # PUT replaced the record


def test_rest_recovery_finds_the_record_an_unanswered_create_made(crm):
    connector = crm_connector(crm)
    connector.send(CRM, [Outgoing(1, {"code": "C-9", "name": "Once"})])
    [again] = connector.send(CRM, [Outgoing(1, {"code": "C-9", "name": "Once"}, lookup_value="C-9", recover=True)])

    assert again.ok and not again.created
    assert [w[0] for w in crm.writes] == ["create", "update"]


def test_after_a_transient_failure_the_rest_of_the_batch_waits_unattempted(crm):
    crm.fail(503, times=1)
    results = crm_connector(crm).send(CRM, [Outgoing(1, {"name": "a"}), Outgoing(2, {"name": "b"})])

    assert isinstance(results[0].error, TransientError) and results[0].attempted
    assert not results[1].attempted and crm.writes == []


def test_a_refusal_of_one_record_does_not_stop_the_others(crm):
    crm.fail(400, times=1)
    results = crm_connector(crm).send(CRM, [Outgoing(1, {"name": "a"}), Outgoing(2, {"name": "b"})])

    assert results[0].error.status == 400 and type(results[0].error) is ConnectorError
    assert results[1].ok and len(crm.writes) == 1


# --- SCIM ----------------------------------------------------------------------------------------
def test_scim_creates_a_user_with_its_schemas_and_learns_the_id(scim):
    body = {"userName": "li.wei", "externalId": "E-1", "name": {"formatted": "Li Wei"},
            ENTERPRISE_USER: {"employeeNumber": "E-1"}}  # fmt: skip
    [sent] = scim_connector(scim).send(USERS, [Outgoing(1, body)])

    assert sent.ok and sent.created and sent.key.startswith("scim-") and sent.etag == 'W/"1"'
    posted = json.loads(scim.requests[-1].body)
    assert posted["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER]


def test_scim_updates_with_patch_operations_per_changed_attribute(scim):
    connector = scim_connector(scim)
    [created] = connector.send(USERS, [Outgoing(1, {"userName": "li.wei", "name": {"formatted": "Li Wei"}})])
    changes = {"name": {"formatted": "Li Wei (HR)"}, "title": None, ENTERPRISE_USER: {"department": "Sales"}}
    [sent] = connector.send(USERS, [Outgoing(1, {}, changes=changes, key=created.key, etag=created.etag)])

    assert sent.ok and sent.etag == 'W/"2"'
    patch = json.loads(scim.requests[-1].body)
    assert patch == {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "name", "value": {"formatted": "Li Wei (HR)"}},
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": ENTERPRISE_USER, "value": {"department": "Sales"}},
    ]}  # fmt: skip
    user = next(u for u in scim.users if u["id"] == created.key)
    assert user["name"]["formatted"] == "Li Wei (HR)" and user[ENTERPRISE_USER]["department"] == "Sales"


def test_scim_put_replaces_the_whole_resource(scim):
    spec = PushSpec(resource="/Users", key_field="id", options={"update": "put"})
    connector = scim_connector(scim)
    [created] = connector.send(spec, [Outgoing(1, {"userName": "a.b", "title": "Buyer"})])
    [sent] = connector.send(spec, [Outgoing(1, {"userName": "a.b"}, key=created.key)])

    assert sent.ok and scim.requests[-1].method == "PUT"
    assert "title" not in next(u for u in scim.users if u["id"] == created.key)


def test_scim_stale_version_is_a_precondition_failure(scim):
    connector = scim_connector(scim)
    [created] = connector.send(USERS, [Outgoing(1, {"userName": "x.y"})])
    scim.change_remotely(created.key, title="Changed at the IdP")
    [sent] = connector.send(USERS, [Outgoing(1, {}, changes={"title": "Ours"}, key=created.key, etag=created.etag)])

    assert isinstance(sent.error, PreconditionFailed) and sent.remote["title"] == "Changed at the IdP"


def test_scim_recovery_looks_the_user_up_by_external_id(scim):
    connector = scim_connector(scim)
    connector.send(USERS, [Outgoing(1, {"userName": "z.z", "externalId": "E-77"})])
    [again] = connector.send(USERS, [Outgoing(1, {"userName": "z.z", "externalId": "E-77"}, lookup_value="E-77",
                                              recover=True)])  # fmt: skip

    assert again.ok and not again.created and [w[0] for w in scim.writes] == ["create", "update"]


@pytest.mark.parametrize("fault", ["hang", "cut"])
def test_an_answer_lost_after_the_write_is_a_transient_failure(crm, fault):
    if fault == "hang":
        crm.hang_after(1.5, method="POST")
    else:
        crm.cut_after(method="POST")
    connector = get_connector(make_connection("rest", crm.base_url, auth_type="bearer", secret=CrmFake.token,
                                              timeout_seconds=0.5))  # fmt: skip
    [sent] = connector.send(CRM, [Outgoing(1, {"code": "C-5", "name": "Lost answer"})])

    assert isinstance(sent.error, TransientError)
    assert [w[0] for w in crm.writes] == ["create"]  # it did arrive


def test_odata_v4_sends_many_writes_in_one_json_batch_with_a_result_per_write(odata_v4):
    spec = PushSpec(resource="A_BusinessPartner", key_field="BusinessPartner", options={"batch_size": 50})
    connector = get_connector(sap_connection(odata_v4, "odata_v4"))
    items = [
        Outgoing(1, {"OrganizationBPName1": "One"}),
        Outgoing(2, {"BusinessPartner": "1000000", "OrganizationBPName1": "Taken key"}),  # exists: 409
        Outgoing(3, {}, changes={"OrganizationBPName1": "Changed"}, key="1000001", etag='W/"1"'),
    ]

    created, refused, updated = connector.send(spec, items)

    assert odata_v4.batches == [3] and [r.method for r in odata_v4.requests] == ["GET", "POST"]  # $metadata, $batch
    assert created.ok and created.created and created.key and created.etag == 'W/"1"'
    assert refused.status == 409 and not refused.ok and refused.attempted
    assert updated.ok and updated.etag == 'W/"2"' and not updated.created
    assert [op for op, *_ in odata_v4.writes] == ["create", "update"]


def test_rest_writes_of_a_round_overlap_on_a_few_kept_alive_connections(crm):
    crm.slow(0.3, times=9, method="POST")  # a target that takes its time over every write
    items = [Outgoing(n, {"code": f"C-{n}", "name": f"Customer {n}"}) for n in range(9)]
    spec = PushSpec(resource="/api/customers", key_field="id", options={"concurrency": 4})
    started = time.monotonic()
    results = crm_connector(crm).send(spec, items)
    elapsed = time.monotonic() - started

    assert all(sent.ok for sent in results) and len(crm.writes) == 9
    assert [sent.ref for sent in results] == list(range(9))  # one result per item, in order
    assert elapsed < 9 * 0.3 * 0.6  # one alone, then four at a time: about three waits, not nine
    assert len({r.client_port for r in crm.requests}) <= 4  # connections reused, never more than in flight


def test_concurrency_one_sends_one_write_at_a_time_in_order(crm):
    spec = PushSpec(resource="/api/customers", key_field="id", options={"concurrency": 1})
    crm_connector(crm).send(spec, [Outgoing(n, {"code": f"C-{n}", "name": f"Customer {n}"}) for n in range(5)])

    assert [body["code"] for _op, _key, body in crm.writes] == [f"C-{n}" for n in range(5)]
    assert len({r.client_port for r in crm.requests}) == 1
