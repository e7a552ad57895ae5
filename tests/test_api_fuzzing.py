"""API fuzzing: every operation of ``/api/schema/`` answers generated requests without a 500 and as documented.

schemathesis reads the OpenAPI schema from the Django app itself (WSGI, no network), generates
valid and invalid requests per operation (path, query, headers, body) and checks each answer:
no server error, the status is one the schema documents, the body matches the documented schema.
Half of the generated record ids are replaced by ids of real records (and the ingest endpoint's
source/domain by a real mapping), so reads, updates and deactivations reach real objects, not
only 404s. The run is bounded and deterministic (a fixed seed, a fixed number of examples per
operation), so CI sees the same requests every time.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from connectors.models import Mapping
from masterdata.models import SourceDomain
from masterdata.registry import registry
from masterdata.services import tokens
from mdm_project.wsgi import application
from tests.conftest import make_steward
from tests.factories import (
    EmployeeFactory,
    MaterialFactory,
    SourceSystemFactory,
    SupplierFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261125,
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "mode": "all",
            "with-security-parameters": False,
        },
    }
)


@pytest.fixture
def same_connection():
    """Requests share the test's database connection and transaction, as under Django's test client.

    The WSGI handler closes "old" connections when a request starts and ends; inside a test
    transaction that would close the test's own connection.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def landscape(org, customers, same_connection):
    """A few records of every domain (the org units come with ``org``) and a source that posts customers."""
    boss = EmployeeFactory(code="E-BOSS", name="Wang Fang", org_unit=org.a)
    records = {
        "customer": customers.a,
        "supplier": SupplierFactory(code="S-1", name="Acme Components", owner_org=org.a, bank_account="DE8937"),
        "material": MaterialFactory(code="M-1", name="Bolt M8"),
        "employee": EmployeeFactory(code="E-1", name="Li Lei", org_unit=org.a_sales, manager=boss),
        "org_unit": org.a_sales,
    }
    if "plant" in registry:
        records["plant"] = registry.get("plant").model_class.objects.create(code="P-1", name="Plant", owner_org=org.a)
    crm = SourceSystemFactory(code="crm", name="CRM")
    SourceDomain.objects.create(source=crm, domain="customer", trust_rank=60)
    Mapping.objects.create(
        source=crm,
        domain="customer",
        fetch_spec={"resource": "/customers", "key_field": "id"},
        field_map={"id": "code", "name": "name", "email": "email"},
    )
    return {registry.get(name).api_path: record.pk for name, record in records.items()}


def load_schema(user, landscape: dict[str, int]) -> schemathesis.BaseSchema:
    authorization = {"Authorization": f"Token {tokens.issue(user, 'fuzzing').key}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", application, config=CONFIG, headers=authorization
    )
    schema.config.update(headers=authorization)

    @schema.hook
    def flatmap_path_parameters(context: Any, parameters: dict[str, Any] | None) -> st.SearchStrategy:
        """Half of the ids name a real record of the operation's domain; the ingest path a real mapping."""
        path = context.operation.path
        if not parameters:
            return st.just(parameters)
        if path.startswith("/api/v1/ingest/"):
            return st.sampled_from([parameters, {"source": "crm", "domain": "customer"}])
        segment = path.removeprefix("/api/v1/").split("/")[0]
        if "id" not in parameters or segment not in landscape:
            return st.just(parameters)
        return st.sampled_from([parameters, {**parameters, "id": landscape[segment]}])

    return schema


@pytest.fixture
def admin_schema(landscape):
    return load_schema(UserFactory(username="fuzz-admin", is_staff=True, is_superuser=True), landscape)


@pytest.fixture
def steward_schema(landscape, org, stewards_group):
    return load_schema(make_steward("fuzz-steward", org.a, stewards_group), landscape)


admin_api = schemathesis.pytest.from_fixture("admin_schema")
steward_api = schemathesis.pytest.from_fixture("steward_schema")


@admin_api.parametrize()
def test_a_superuser_meets_no_server_error_and_no_answer_the_schema_does_not_document(case):
    case.call_and_validate(checks=CHECKS)


@steward_api.include(method="GET").parametrize()
def test_a_steward_reading_meets_no_server_error_and_no_answer_the_schema_does_not_document(case):
    case.call_and_validate(checks=CHECKS)
