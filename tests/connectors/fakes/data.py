"""Deterministic datasets for the fakes, shaped like the real systems' records.

Timestamps advance by ``step`` seconds from ``start``; with ``ties`` > 1 that many consecutive
records share one timestamp (to exercise tie-breaking at page boundaries). Values are Python
objects (datetimes stay datetimes); each fake serialises them the way its protocol does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
DEPARTMENTS = ("Sales", "Finance", "Logistics", "R&D", "销售部")


def moment(index: int, *, start: datetime = START, step: float = 60, ties: int = 1) -> datetime:
    return start + timedelta(seconds=step * (index // max(1, ties)))


def business_partners(count: int, **timing: Any) -> list[dict[str, Any]]:
    """``A_BusinessPartner`` of API_BUSINESS_PARTNER (organisations, category 2)."""
    records = []
    for i in range(count):
        changed = moment(i, **timing)
        records.append(
            {
                "BusinessPartner": f"{1000000 + i}",
                "BusinessPartnerCategory": "2",
                "BusinessPartnerFullName": f"Partner {i} Trading GmbH" if i % 7 else f"上海伙伴{i}有限公司",
                "OrganizationBPName1": f"Partner {i}",
                "SearchTerm1": f"PARTNER{i}",
                "BusinessPartnerIsBlocked": i % 50 == 0,
                "CreationDate": START.replace(hour=0, minute=0) - timedelta(days=i % 400),
                "LastChangeDate": changed.replace(hour=0, minute=0, second=0, microsecond=0),
                "LastChangeTime": f"PT{changed.hour:02d}H{changed.minute:02d}M{changed.second:02d}S",
                "LastChangeDateTime": changed,
            }
        )
    return records


def products(count: int, **timing: Any) -> list[dict[str, Any]]:
    """``A_Product`` of API_PRODUCT_SRV, with the ``to_Description`` navigation."""
    records = []
    for i in range(count):
        code = f"MAT-{i:06d}"
        records.append(
            {
                "Product": code,
                "ProductType": "FERT" if i % 3 else "ROH",
                "BaseUnit": "PC" if i % 4 else "KG",
                "ProductGroup": f"L{i % 10:03d}",
                "GrossWeight": f"{1 + i % 9}.500",
                "WeightUnit": "KG",
                "IsMarkedForDeletion": False,
                "CreationDate": START.replace(hour=0, minute=0) - timedelta(days=i % 300),
                "LastChangeDateTime": moment(i, **timing),
                "to_Description": [
                    {"Product": code, "Language": "EN", "ProductDescription": f"Material {i}"},
                    {"Product": code, "Language": "ZH", "ProductDescription": f"物料{i}"},
                ],
            }
        )
    return records


def crm_customers(count: int, **timing: Any) -> list[dict[str, Any]]:
    """The seed's CRM customer: id, name, credit_score, last_order_date (+ updated_at for incremental reads)."""
    return [
        {
            "id": f"C{1001 + i}",
            "name": f"Customer {i}" if i % 5 else f"华东客户{i}",
            "credit_score": 500 + (i * 37) % 350,
            "last_order_date": (START - timedelta(days=i % 90)).date().isoformat(),
            "email": f"buyer{i}@example.com",
            "updated_at": moment(i, **timing),
        }
        for i in range(count)
    ]


def scim_users(count: int, **timing: Any) -> list[dict[str, Any]]:
    """SCIM 2.0 Users with the enterprise extension (employeeNumber, department, manager, organization)."""
    users = []
    for i in range(count):
        user_id = f"2819c223-7f76-453a-919d-{i:012d}"
        manager = f"2819c223-7f76-453a-919d-{i // 10:012d}" if i >= 10 else None
        users.append(
            {
                "schemas": [CORE_USER, ENTERPRISE],
                "id": user_id,
                "externalId": f"hr-{i}",
                "userName": f"user{i}@example.com",
                "name": {"givenName": f"Given{i}", "familyName": f"Family{i}", "formatted": f"Given{i} Family{i}"},
                "displayName": f"Given{i} Family{i}",
                "emails": [{"value": f"user{i}@example.com", "type": "work", "primary": True}],
                "title": "Engineer" if i % 3 else "Manager",
                "active": i % 25 != 0,
                ENTERPRISE: {
                    "employeeNumber": f"E{10000 + i}",
                    "department": DEPARTMENTS[i % len(DEPARTMENTS)],
                    "organization": "Company A" if i % 2 else "Company B",
                    **(
                        {"manager": {"value": manager, "displayName": f"Given{i // 10} Family{i // 10}"}}
                        if manager
                        else {}
                    ),
                },
                "meta": {
                    "resourceType": "User",
                    "created": START - timedelta(days=30),
                    "lastModified": moment(i, **timing),
                    "version": f'W/"{i}"',
                },
            }
        )
    return users
