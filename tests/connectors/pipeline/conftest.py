"""Source systems wired to the fake systems: a saved connection and mapping per source/domain."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.models import Connection, Mapping
from masterdata.models import SourceDomain, SourceSystem
from tests.connectors.conftest import SAP_PASSWORD, SAP_USER
from tests.connectors.fakes import CrmFake
from tests.test_celery_worker import worker  # noqa: F401  (a real Celery worker on the test database)

#: The seed's CRM example, exactly as connectors/README.md gives it.
SEED_CRM_FETCH = {
    "resource": "/api/customers",
    "record_path": "data",
    "key_field": "id",
    "pagination": "page",
    "options": {"total_path": "total"},
}
SEED_CRM_FIELDS = {
    "id": "code",
    "name": "name",
    "credit_score": "credit_rating",
    "last_order_date": "last_transaction_date",
}
#: The same CRM read incrementally: changed since the cursor, in cursor order.
INCREMENTAL_CRM_FETCH = {
    **SEED_CRM_FETCH,
    "cursor_field": "updated_at",
    "options": {
        "total_path": "total",
        "updated_since_param": "updated_since",
        "sort_params": {"ordering": "updated_at"},
        "ordered": True,
    },
}


def make_source(code: str, *, kind: str = "other", domain: str = "customer", trust: int = 50) -> SourceSystem:
    source = SourceSystem.objects.create(code=code, name=code.upper(), kind=kind)
    SourceDomain.objects.create(source=source, domain=domain, trust_rank=trust)
    return source


def connect(source: SourceSystem, protocol: str, base_url: str, **fields: Any) -> Connection:
    options = {"max_retries": 0, **fields.pop("options", {})}
    fields.setdefault("timeout_seconds", 5)
    connection = Connection(source=source, protocol=protocol, base_url=base_url, options=options, **fields)
    connection.full_clean()
    connection.save()
    return connection


def map_source(source: SourceSystem, domain: str, fetch_spec: dict, field_map: Any, **fields: Any) -> Mapping:
    mapping = Mapping(source=source, domain=domain, fetch_spec=fetch_spec, field_map=field_map, **fields)
    mapping.full_clean()
    mapping.save()
    return mapping


def crm_source(fake: CrmFake, *, code: str = "crm", fetch: dict | None = None, fields: Any = None, **mapping_fields):
    source = make_source(code, kind="crm")
    connect(source, "rest", fake.base_url, auth_type="bearer", secret=CrmFake.token, page_size=10)
    map_source(source, "customer", fetch or SEED_CRM_FETCH, fields or SEED_CRM_FIELDS, **mapping_fields)
    return source


def sap_source(fake, protocol: str, *, code: str = "erp", domain: str = "customer") -> SourceSystem:
    source = make_source(code, kind="erp", domain=domain)
    connect(source, protocol, fake.base_url, auth_type="basic", username=SAP_USER, secret=SAP_PASSWORD, page_size=10)
    return source


@pytest.fixture
def seed_crm(db, crm):
    """The CRM fake with the seed mapping (read in full every time)."""
    return crm_source(crm)


@pytest.fixture
def incremental_crm(db, crm):
    """The CRM fake read incrementally by ``updated_at``."""
    return crm_source(crm, fetch=INCREMENTAL_CRM_FETCH)
