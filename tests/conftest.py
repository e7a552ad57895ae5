"""Shared fixtures: a small group with two companies, stewards of each, API clients."""

from __future__ import annotations

import os
import secrets
import uuid

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from masterdata.api.throttling import AnonRateThrottle, UserRateThrottle
from masterdata.crypto import BLIND_INDEX_KEY_ENV, KEYS_ENV, generate_key
from masterdata.models import OrgUnitType
from masterdata.services import access, tokens
from tests.factories import CustomerFactory, OrgUnitFactory, UserFactory

# pytest-django runs with DEBUG off, where encryption at rest and the blind index need real keys:
# one of each per test session (tests of rotation set their own).
os.environ.setdefault(KEYS_ENV, generate_key())
os.environ.setdefault(BLIND_INDEX_KEY_ENV, secrets.token_urlsafe(32))

THROTTLES = (AnonRateThrottle, UserRateThrottle)
STEWARD_MODEL_PERMS = [
    f"{action}_{model}"
    for model in ("customer", "supplier", "material", "employee", "plant")
    for action in ("view", "add", "change")
]


@pytest.fixture
def org(db):
    """Group ▸ company A (▸ A-sales) and company B."""
    group = OrgUnitFactory(code="GRP", name="Group", unit_type=OrgUnitType.GROUP)
    company_a = OrgUnitFactory(code="A", name="Company A", unit_type=OrgUnitType.COMPANY, parent=group)
    sales_a = OrgUnitFactory(code="A-SALES", name="A Sales", parent=company_a)
    company_b = OrgUnitFactory(code="B", name="Company B", unit_type=OrgUnitType.COMPANY, parent=group)
    return type("Org", (), {"group": group, "a": company_a, "a_sales": sales_a, "b": company_b})


@pytest.fixture
def stewards_group(db):
    group, _ = Group.objects.get_or_create(name="Data stewards")
    group.permissions.set(Permission.objects.filter(codename__in=STEWARD_MODEL_PERMS))
    return group


def make_steward(username: str, unit, stewards_group, actions=("view", "change")):
    user = UserFactory(username=username, is_staff=True)
    user.groups.add(stewards_group)
    for action in actions:
        access.grant(user, action, unit)
    return user


@pytest.fixture
def steward_a(org, stewards_group):
    return make_steward("steward_a", org.a, stewards_group)


@pytest.fixture
def steward_b(org, stewards_group):
    return make_steward("steward_b", org.b, stewards_group)


@pytest.fixture
def superuser(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


def client_for(user, **token_options) -> APIClient:
    """An API client authenticated with a new token of ``user`` (``read_only``, ``expires_at``… as given)."""
    client = APIClient()
    issued = tokens.issue(user, "tests", **token_options)
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    return client


@pytest.fixture
def api_a(steward_a):
    return client_for(steward_a)


@pytest.fixture
def api_b(steward_b):
    return client_for(steward_b)


@pytest.fixture
def api_admin(superuser):
    return client_for(superuser)


@pytest.fixture
def customers(org):
    """Two customers of company A (one in its sales department) and one of company B."""
    return type(
        "Customers",
        (),
        {
            "a": CustomerFactory(code="CA-1", name="Alpha Trading", owner_org=org.a),
            "a_sales": CustomerFactory(code="CA-2", name="上海华东贸易有限公司", owner_org=org.a_sales),
            "b": CustomerFactory(code="CB-1", name="Beta Retail", owner_org=org.b),
        },
    )


@pytest.fixture(autouse=True)
def own_rate_limit_counters(monkeypatch):
    """Each test counts its API requests afresh.

    The counters live in the shared cache, across tests and runs: without its own key prefix a test
    would find the failed authentications of the tests before it counted against 127.0.0.1.
    """
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    for throttle in THROTTLES:
        monkeypatch.setattr(throttle, "cache_format", f"{prefix}-%(scope)s-%(ident)s")


@pytest.fixture
def three_per_minute(monkeypatch):
    """API rate limits of 3 requests a minute. DRF reads the rates once, at import: set on the throttles."""
    for throttle in THROTTLES:
        monkeypatch.setattr(throttle, "THROTTLE_RATES", {"user": "3/minute", "anon": "3/minute"})
