"""Helpers of the API tests: valid payloads and stored records for any domain of the registry."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models

from masterdata.models import GoldenRecord, OrgUnit
from masterdata.registry import Domain, registry

DOMAINS = list(registry)
OWNED_DOMAINS = [d for d in DOMAINS if d.org_field is not None]
BY_NAME = {d.name: d for d in DOMAINS}


def domain_params(domains: list[Domain] | None = None) -> list[Any]:
    """``pytest.param`` per domain, named after it (``customer``, ``plant``…)."""
    return [pytest.param(d, id=d.name) for d in (DOMAINS if domains is None else domains)]


def url(domain: Domain, pk: int | None = None, suffix: str = "") -> str:
    base = f"/api/v1/{domain.api_path}/"
    if pk is None:
        return base
    return f"{base}{pk}/{suffix}"


def payload(domain: Domain, code: str, unit: OrgUnit | None = None) -> dict[str, Any]:
    """A valid create body for ``domain`` whose record belongs to ``unit`` (via its org field)."""
    data: dict[str, Any] = {"code": code, "name": f"{domain.name} {code}"}
    if domain.org_field == "pk":
        data["parent"] = unit.code if unit else None
    elif domain.org_field is not None:
        data[domain.org_field] = unit.code if unit else None
    for field in domain.model_class._meta.concrete_fields:
        required_text = isinstance(field, models.CharField) and not field.blank and not field.has_default()
        if required_text and field.name not in data and field.name not in GoldenRecord.BOOKKEEPING_FIELDS:
            data[field.name] = field.choices[0][0] if field.choices else "x"
    return data


def make_record(domain: Domain, code: str, unit: OrgUnit | None = None, **fields: Any) -> GoldenRecord:
    """Store a record of ``domain`` owned by ``unit`` directly (as sync or a migration would)."""
    values: dict[str, Any] = {"code": code, "name": f"{domain.name} {code}", **fields}
    if domain.org_field == "pk":
        values.setdefault("parent", unit)
    elif domain.org_field is not None:
        values.setdefault(domain.org_field, unit)
    return domain.model_class.objects.create(**values)


def error_fields(response) -> set[str]:
    return set(response.json().get("errors", {}))
