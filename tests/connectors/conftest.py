"""Fake source systems on 127.0.0.1 and unsaved connections pointing at them.

Connector tests need no database: a :class:`~connectors.models.Connection` is built in memory.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from connectors.crypto import KEYS_ENV, generate_key
from connectors.models import Connection
from tests.connectors.fakes import AuthPolicy, CrmFake, OAuthFake, ODataV2Fake, ODataV4Fake, ScimFake, TokenIssuer

SAP_USER, SAP_PASSWORD = "MDM_COMM_USER", "Init-Pass'word;1"

# pytest-django runs with DEBUG off, where secrets need a real key: one per test session.
os.environ.setdefault(KEYS_ENV, generate_key())


def make_connection(protocol: str, base_url: str, **fields: Any) -> Connection:
    """An unsaved connection; fast defaults (short timeout, no in-process retries) unless given."""
    options = {"max_retries": 0, **fields.pop("options", {})}
    fields.setdefault("timeout_seconds", 5)
    return Connection(protocol=protocol, base_url=base_url, options=options, **fields)


@pytest.fixture
def odata_v4():
    with ODataV4Fake(auth=AuthPolicy(basic={SAP_USER: SAP_PASSWORD})) as fake:
        yield fake


@pytest.fixture
def odata_v2():
    with ODataV2Fake(auth=AuthPolicy(basic={SAP_USER: SAP_PASSWORD})) as fake:
        yield fake


@pytest.fixture
def crm():
    with CrmFake() as fake:
        yield fake


@pytest.fixture
def scim():
    with ScimFake() as fake:
        yield fake


@pytest.fixture
def issuer():
    return TokenIssuer({"mdm-hub": "client-secret-~._-"}, lifetime=3600)


@pytest.fixture
def oauth(issuer):
    with OAuthFake(issuer) as fake:
        yield fake


def sap_connection(fake, protocol: str, **fields: Any) -> Connection:
    return make_connection(protocol, fake.base_url, auth_type="basic", username=SAP_USER, secret=SAP_PASSWORD, **fields)
