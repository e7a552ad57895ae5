"""SCIM 2.0 Users with the enterprise extension against a fake provider over real HTTP."""

from __future__ import annotations

import pytest

from connectors.errors import AuthError, ConnectorError, PayloadError
from connectors.protocols import Cursor, FetchSpec, get_connector
from connectors.protocols.base import dig
from tests.connectors.conftest import make_connection
from tests.connectors.fakes import ScimFake, data
from tests.connectors.fakes.data import ENTERPRISE
from tests.connectors.fakes.odata import query_of
from tests.connectors.fakes.server import MALFORMED_JSON

EMPLOYEE_NUMBER = f"{ENTERPRISE}.employeeNumber"
USERS = FetchSpec(resource="/Users", key_field="id", cursor_field="meta.lastModified")
SORTED = FetchSpec.from_dict({**USERS.to_dict(), "options": {"sort_by": "meta.lastModified"}})


def scim_connection(fake, **fields):
    return make_connection(
        "scim", fake.base_url, auth_type="bearer", secret=fields.pop("secret", ScimFake.token), **fields
    )


def numbers(pages) -> list[str]:
    return [dig(r, EMPLOYEE_NUMBER) for p in pages for r in p.records]


def sent(fake) -> list[dict[str, list[str]]]:
    return [query_of("?" + r.raw_query) for r in fake.requests]


def test_pages_through_users_by_one_based_start_index(scim):
    pages = list(get_connector(scim_connection(scim, page_size=7)).fetch(USERS))
    assert numbers(pages) == [f"E{10000 + i}" for i in range(30)]
    assert [q["startIndex"] for q in sent(scim)] == [["1"], ["8"], ["15"], ["22"], ["29"]]
    assert {q["count"][0] for q in sent(scim)} == {"7"} and {p.total for p in pages} == {30}
    assert "application/scim+json" in scim.requests[0].headers["Accept"]


def test_the_enterprise_extension_reaches_the_employee_fields(scim):
    user = next(iter(get_connector(scim_connection(scim)).fetch(USERS))).records[12]
    assert dig(user, EMPLOYEE_NUMBER) == "E10012"
    assert dig(user, f"{ENTERPRISE}.department") == "Logistics"
    assert dig(user, f"{ENTERPRISE}.manager.value") == "2819c223-7f76-453a-919d-000000000001"
    assert dig(user, f"{ENTERPRISE}.organization") == "Company B"
    assert dig(user, "emails.0.value") == "user12@example.com"


def test_a_provider_returning_fewer_than_asked_is_followed_by_what_it_returned():
    with ScimFake(data.scim_users(23), max_results=5) as fake:
        pages = list(get_connector(scim_connection(fake, page_size=10)).fetch(USERS))
        assert len(numbers(pages)) == 23 and len(set(numbers(pages))) == 23
        assert [q["startIndex"][0] for q in sent(fake)] == ["1", "6", "11", "16", "21"]


def test_an_incremental_read_filters_on_last_modified_and_breaks_ties():
    users = data.scim_users(20, ties=3)
    with ScimFake(users) as fake:
        connector = get_connector(scim_connection(fake, page_size=4))
        first = next(iter(connector.fetch(SORTED)))
        assert first.cursor == Cursor("2024-01-01T08:01:00Z", users[3]["id"])
        rest = list(connector.fetch(SORTED, first.cursor))
        assert numbers([first]) + numbers(rest) == [f"E{10000 + i}" for i in range(20)]
        last = sent(fake)[-1]
        assert last["filter"] == ['meta.lastModified ge "2024-01-01T08:01:00Z"']
        assert last["sortBy"] == ["meta.lastModified"] and last["sortOrder"] == ["ascending"]
        assert "%20ge%20" in fake.requests[-1].raw_query  # spaces as %20, never +


def test_without_sorting_the_cursor_moves_only_at_the_end(scim):
    pages = list(get_connector(scim_connection(scim, page_size=10)).fetch(USERS, Cursor("2023-01-01T00:00:00Z")))
    assert [p.cursor.value for p in pages] == ["2023-01-01T00:00:00Z"] * 2 + ["2024-01-01T08:29:00Z"]


def test_a_configured_filter_is_combined_with_the_cursor(scim):
    spec = FetchSpec.from_dict({**USERS.to_dict(), "filter": "active eq true"})
    pages = list(get_connector(scim_connection(scim)).fetch(spec, Cursor("2024-01-01T08:20:00Z")))
    assert sent(scim)[0]["filter"] == ['meta.lastModified ge "2024-01-01T08:20:00Z" and (active eq true)']
    assert numbers(pages) == [f"E{10000 + i}" for i in range(20, 30) if i != 25]  # user 25 is inactive


def test_no_matching_users_is_one_empty_last_page(scim):
    pages = list(get_connector(scim_connection(scim)).fetch(USERS, Cursor("2030-01-01T00:00:00Z")))
    assert len(pages) == 1 and pages[0].records == [] and pages[0].total == 0 and pages[0].last


@pytest.mark.parametrize("token, status", [("expired", 401), ("no-scope-token", 403)])
def test_refused_tokens_raise_auth_error_with_the_scim_detail(scim, token, status):
    with pytest.raises(AuthError) as caught:
        list(get_connector(scim_connection(scim, secret=token)).fetch(USERS))
    assert caught.value.status == status and caught.value.message in ("unauthorised", "forbidden")


def test_an_invalid_filter_is_reported_by_the_provider(scim):
    spec = FetchSpec.from_dict({**USERS.to_dict(), "filter": 'userName zz "x"'})
    with pytest.raises(ConnectorError) as caught:
        list(get_connector(scim_connection(scim)).fetch(spec))
    assert caught.value.status == 400 and "invalidFilter" in caught.value.message


def test_malformed_json_raises_payload_error_with_the_raw_body(scim):
    scim.malformed(after=1)
    pages = get_connector(scim_connection(scim, page_size=10)).fetch(USERS)
    next(pages)
    with pytest.raises(PayloadError) as caught:
        next(pages)
    assert caught.value.raw == MALFORMED_JSON


def test_a_body_that_is_not_a_list_response_is_a_payload_error(scim):
    scim.inject(200, '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1"}')
    with pytest.raises(PayloadError, match="not a SCIM ListResponse"):
        list(get_connector(scim_connection(scim)).fetch(USERS))


def test_a_user_with_a_wrong_type_is_delivered_as_served(scim):
    scim.users[3]["active"] = "yes"
    scim.users[3][ENTERPRISE]["employeeNumber"] = 10003
    user = next(iter(get_connector(scim_connection(scim)).fetch(USERS))).records[3]
    assert user["active"] == "yes" and dig(user, EMPLOYEE_NUMBER) == 10003


def test_check_reads_the_service_provider_config(scim):
    result = get_connector(scim_connection(scim)).check()
    assert result.ok and "filter supported: True" in result.message
    assert get_connector(scim_connection(scim)).check(USERS).message == "Users holds 30 resource(s)"
