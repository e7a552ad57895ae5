"""Routes come from the registry; the trailing slash is optional so POSTs are never redirected."""

import pytest

from masterdata.registry import registry


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/customers/"])
def test_list_answers_with_and_without_trailing_slash(api_a, customers, path):
    response = api_a.get(path)
    assert response.status_code == 200
    assert {row["code"] for row in response.json()["results"]} == {"CA-1", "CA-2"}


def test_post_without_trailing_slash_creates_instead_of_redirecting(api_a, org):
    response = api_a.post(
        "/api/v1/customers", {"code": "CA-9", "name": "No Slash Ltd", "owner_org": "A"}, format="json"
    )
    assert response.status_code == 201, response.content


def test_api_root_lists_every_registered_domain(api_admin):
    response = api_admin.get("/api/v1/")
    assert response.status_code == 200
    assert set(response.json()) == {domain.api_path for domain in registry}
