"""Sources that post records to the hub: the seed's CRM mapping, an integration account per case."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from guardian.shortcuts import assign_perm

from connectors.models import Mapping
from masterdata.models import SourceDomain
from tests.conftest import client_for
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, SEED_CRM_FIELDS, make_source, map_source
from tests.factories import UserFactory

URL = "/api/v1/ingest/{source}/{domain}/"


@pytest.fixture
def crm(db):
    """The CRM feeding customers with the seed's mapping (it posts; the hub never fetches from it)."""
    source = make_source("crm", kind="crm", trust=60)
    map_source(source, "customer", SEED_CRM_FETCH, SEED_CRM_FIELDS)
    return source


@pytest.fixture
def erp(db):
    source = make_source("erp", kind="erp", trust=80)
    map_source(source, "customer", {"resource": "KNA1", "key_field": "KUNNR"}, {"KUNNR": "code", "NAME1": "name"})
    return source


@pytest.fixture
def crm_integration(crm):
    """A system account allowed to post for the CRM's customers only (an object permission)."""
    user = UserFactory(username="crm-integration")
    assign_perm("connectors.ingest_mapping", user, Mapping.objects.get(source=crm, domain="customer"))
    return user


@pytest.fixture
def api_crm(crm_integration):
    return client_for(crm_integration)


@pytest.fixture
def api_everywhere(db):
    """An account holding the model permission: it may post for every source and domain."""
    user = UserFactory(username="etl")
    user.user_permissions.add(Permission.objects.get(codename="ingest_mapping"))
    return client_for(user)


def post(client, records, *, key: str | None = "key-1", source: str = "crm", domain: str = "customer"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(URL.format(source=source, domain=domain), records, format="json", **headers)


def push_only(source, domain: str = "customer") -> None:
    SourceDomain.objects.filter(source=source, domain=domain).update(direction="push")
