"""The OpenAPI 3 schema and the interactive docs, both served without internet access."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.conftest import client_for
from tests.masterdata.api.helpers import DOMAINS

pytestmark = pytest.mark.django_db

RECORD_ENDPOINTS = {
    "{id}/": {"get", "put", "patch", "delete"},
    "{id}/history/": {"get"},
    "{id}/links/": {"get"},
    "{id}/deactivate/": {"post"},
    "{id}/reactivate/": {"post"},
}


@pytest.fixture
def schema(api_a) -> dict:
    response = api_a.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema


def test_the_schema_is_yaml_by_default(api_a):
    response = api_a.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize("domain", [pytest.param(d, id=d.name) for d in DOMAINS])
def test_the_schema_documents_every_domain_of_the_registry(schema, domain):
    base = f"/api/v1/{domain.api_path}/"
    paths = schema["paths"]

    assert set(paths[base]) >= {"get", "post"}
    for suffix, methods in RECORD_ENDPOINTS.items():
        assert set(paths[base + suffix]) >= methods, suffix
    list_params = {p["name"] for p in paths[base]["get"]["parameters"]}
    assert {"code", "status", "updated_since", "search", "ordering", "cursor", "page_size"} <= list_params
    patch_params = {p["name"] for p in paths[base + "{id}/"]["patch"]["parameters"]}
    assert {"If-Match", "X-Change-Reason"} <= patch_params


def test_the_schema_names_both_token_keywords(schema):
    token = schema["components"]["securitySchemes"]["tokenAuth"]

    assert (token["in"], token["name"]) == ("header", "Authorization")
    assert "Bearer" in token["description"]


def test_schema_generation_has_no_warnings(tmp_path):
    """``--fail-on-warn`` turns every guess drf-spectacular had to make into an error."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.")


# --- interactive docs -------------------------------------------------------------------------
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory):
    """The static files as a production deployment has them after ``collectstatic``."""
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root):
        call_command("collectstatic", interactive=False, verbosity=0)
    return root


def test_the_docs_reference_only_local_static_assets(api_a):
    response = api_a.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert len(assets) >= 4  # favicon, stylesheet, two scripts
    assert all(url.startswith("/static/drf_spectacular_sidecar/") for url in assets), assets
    assert "http://" not in html and "https://" not in html and '"//' not in html
    assert '"/api/schema/"' in html


def test_the_docs_assets_are_served_by_the_hub(steward_a, collected_static, settings):
    settings.STATIC_ROOT = collected_static  # read when the (new) client's middleware starts
    client = client_for(steward_a)
    assets = ASSET.findall(client.get("/api/docs/").content.decode())

    for asset in assets:
        response = APIClient().get(urlsplit(asset).path)  # static files need no login
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, asset


def test_the_docs_need_a_login_or_a_token(steward_a):
    assert APIClient().get("/api/docs/").status_code == 401
    browser = APIClient()
    browser.force_login(type(steward_a).objects.get(pk=steward_a.pk))
    assert browser.get("/api/docs/").status_code == 200
