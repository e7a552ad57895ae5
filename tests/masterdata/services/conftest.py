"""Fixtures of the ingest tests: an ERP and a CRM taking part in the customer domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from masterdata.models import SourceDomain, SourceSystem, SyncDirection
from masterdata.registry import registry
from masterdata.services.ingest import IncomingRecord


@pytest.fixture
def customer_domain():
    return registry.get("customer")


def take_part(source: SourceSystem, domain: str, trust: int, field_trust: dict[str, int] | None = None) -> None:
    SourceDomain.objects.create(
        source=source, domain=domain, direction=SyncDirection.BOTH, trust_rank=trust, field_trust=field_trust or {}
    )


@pytest.fixture
def erp(db):
    source = SourceSystem.objects.create(code="erp", name="Group ERP", kind="erp")
    take_part(source, "customer", 80)
    return source


@pytest.fixture
def crm(db):
    source = SourceSystem.objects.create(code="crm", name="Sales CRM", kind="crm")
    take_part(source, "customer", 60)
    return source


@pytest.fixture
def webshop(db):
    """A source of the same standing as the ERP."""
    source = SourceSystem.objects.create(code="shop", name="Web shop", kind="other")
    take_part(source, "customer", 80)
    return source


def incoming(
    key: str, *, observed_at: datetime | None = None, attributes: dict[str, Any] | None = None, **values: Any
) -> IncomingRecord:
    """A mapped source record whose raw payload is its values (so a change of value changes the hash)."""
    payload = {"id": key, **values, **(attributes or {})}
    return IncomingRecord(
        source_key=key, values=values, payload=payload, attributes=attributes or {}, observed_at=observed_at
    )
