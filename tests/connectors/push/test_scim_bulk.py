"""SCIM writes go in /Bulk requests (RFC 7644 §3.7) when the provider's configuration offers bulk."""

from __future__ import annotations

import json

from connectors.errors import PreconditionFailed
from connectors.models import FailureClass
from connectors.protocols import Outgoing, PushSpec, get_connector
from connectors.protocols.scim import PATCH_OP
from connectors.services.retry import classify
from tests.connectors.conftest import make_connection
from tests.connectors.fakes import ScimFake

USERS = PushSpec(resource="/Users", key_field="id", lookup_field="externalId")


def connector(fake: ScimFake, **options):
    return get_connector(make_connection("scim", fake.base_url, auth_type="bearer", secret=ScimFake.token,
                                         options=options))  # fmt: skip


def user(n: int, **extra) -> dict:
    return {"userName": f"user.{n}", "externalId": f"E-{n}", "name": {"formatted": f"User {n}"}, **extra}


def bulk_bodies(fake: ScimFake) -> list[dict]:
    return [json.loads(r.body) for r in fake.requests if r.path.endswith("/Bulk")]


def test_creates_and_updates_go_in_one_bulk_request_and_ids_come_from_location():
    with ScimFake([]) as fake:
        scim = connector(fake)
        [existing] = scim.send(USERS, [Outgoing(0, user(0))])
        items = [Outgoing(1, user(1)), Outgoing(2, user(2)),
                 Outgoing(0, {}, changes={"title": "Buyer"}, key=existing.key, etag=existing.etag)]  # fmt: skip
        one, two, updated = scim.send(USERS, items)

    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == ["Users", "ServiceProviderConfig", "Bulk"]
    [request] = bulk_bodies(fake)
    assert request["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]
    assert request["failOnErrors"] == 3
    methods = [(op["method"], op["path"], op.get("version")) for op in request["Operations"]]
    assert methods == [("POST", "/Users", None), ("POST", "/Users", None),
                       ("PATCH", f"/Users/{existing.key}", existing.etag)]  # fmt: skip
    assert all(op["bulkId"] for op in request["Operations"])
    assert request["Operations"][2]["data"] == {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "title", "value": "Buyer"}]}  # fmt: skip
    assert one.ok and one.created and {one.key, two.key} == {u["id"] for u in fake.users[1:]}
    assert one.etag == 'W/"1"' and updated.ok and updated.etag == 'W/"2"'
    assert fake.users[0]["title"] == "Buyer"


def test_the_providers_limits_split_the_operations():
    with ScimFake([], max_operations=2) as fake:
        results = connector(fake).send(USERS, [Outgoing(n, user(n)) for n in range(5)])
    assert fake.bulks == [2, 2, 1] and all(sent.ok for sent in results)

    with ScimFake([], max_payload_size=600) as fake:
        results = connector(fake).send(USERS, [Outgoing(n, user(n)) for n in range(5)])
    assert all(sent.ok for sent in results) and len(fake.users) == 5
    assert all(len(r.body) <= 600 for r in fake.requests if r.path.endswith("/Bulk")) and len(fake.bulks) > 1


def test_each_operation_is_judged_alone_by_the_usual_retry_rules():
    with ScimFake([]) as fake:
        scim = connector(fake)
        scim.send(USERS, [Outgoing(0, user(0))])
        taken, fine, malformed = scim.send(USERS, [
            Outgoing(1, user(0)),  # userName taken: 409 uniqueness
            Outgoing(2, user(2)),
            Outgoing(3, {}, changes={"title": "x"}, key="scim-99999"),  # no such user: 404
        ])  # fmt: skip

    assert taken.status == 409 and "uniqueness" in str(taken.error) and classify(taken.error).retry
    assert fine.ok and fine.created
    assert malformed.status == 404 and classify(malformed.error).classification == FailureClass.BAD_DATA


def test_fail_on_errors_stops_the_provider_and_the_rest_waits_unattempted():
    with ScimFake([]) as fake:
        scim = connector(fake, fail_on_errors=1)
        scim.send(USERS, [Outgoing(0, user(0))])
        refused, later = scim.send(USERS, [Outgoing(1, user(0)), Outgoing(2, user(2))])

    assert bulk_bodies(fake)[-1]["failOnErrors"] == 1
    assert refused.status == 409 and refused.attempted
    assert not later.attempted and len(fake.users) == 1


def test_a_stale_version_in_bulk_is_read_again():
    with ScimFake([]) as fake:
        scim = connector(fake)
        [created] = scim.send(USERS, [Outgoing(0, user(0))])
        fake.change_remotely(created.key, title="Changed at the IdP")
        stale, fine = scim.send(USERS, [Outgoing(0, {}, changes={"title": "Ours"}, key=created.key, etag=created.etag),
                                        Outgoing(1, user(1))])  # fmt: skip

    assert isinstance(stale.error, PreconditionFailed) and stale.remote["title"] == "Changed at the IdP"
    assert fine.ok


def test_a_provider_without_bulk_gets_single_requests():
    with ScimFake([], bulk=False) as fake:
        results = connector(fake).send(USERS, [Outgoing(n, user(n)) for n in range(3)])

    assert all(sent.ok for sent in results) and len(fake.users) == 3
    assert fake.bulks == [] and not any(r.path.endswith("/Bulk") for r in fake.requests)
    assert fake.service_provider_config()["bulk"]["supported"] is False


def test_bulk_forced_on_a_provider_without_it_falls_back_and_remembers():
    with ScimFake([], bulk=False) as fake:
        connection = make_connection("scim", fake.base_url, auth_type="bearer", secret=ScimFake.token,
                                     options={"bulk": True})  # fmt: skip
        first = get_connector(connection).send(USERS, [Outgoing(n, user(n)) for n in range(2)])
        assert [r.path.rsplit("/", 1)[-1] for r in fake.requests].count("Bulk") == 1  # answered 501
        fake.requests.clear()
        again = get_connector(connection).send(USERS, [Outgoing(n, user(n)) for n in range(2, 4)])

    assert all(sent.ok for sent in first + again) and len(fake.users) == 4
    assert not any(r.path.endswith("/Bulk") for r in fake.requests)
