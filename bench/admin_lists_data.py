"""Data of ``bench/admin_lists.py``: 100,000 rows per admin list, loaded with COPY; the steward and superuser.

The org tree is 1 group ▸ 4 companies; company 1 (the steward's) has 50 departments, the other
units are cost centres of companies 2–4, and records are spread evenly over the companies and
within each over its units: a steward of company 1 sees a quarter of every list.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from api_list import copy_rows

STEWARD, SUPERUSER = "bench-list-steward", "bench-list-admin"
COMPANIES = 4
SEED = 20240601
COUNTRIES = ("CN", "DE", "US", "FR", "JP")


# --- loading ---------------------------------------------------------------------------------------
def copy_model(model: Any, count: int, values: Callable[[int], dict[str, Any]], *, with_id: bool = False) -> None:
    """COPY ``count`` rows; ``values(n)`` gives the fields that matter, the rest take their defaults."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]

    def rows():
        for n in range(1, count + 1):
            given = values(n)
            row = []
            for f in fields:
                if f.attname in given:
                    value = given[f.attname]
                elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                    value = now
                elif f.has_default():
                    value = f.get_default()
                else:
                    value = "" if f.empty_strings_allowed and not f.null else None
                row.append(f.get_db_prep_save(value, connection))
            yield row

    copy_rows(model, [f.name for f in fields], rows())


def reset_sequence(model: Any) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


def tables() -> list[Any]:
    from django.apps import apps

    labels = [
        "connectors.Delivery",
        "connectors.PushTarget",
        "connectors.SyncFailure",
        "connectors.SyncRun",
        "masterdata.QualityIssue",
        "masterdata.QualityScore",
        "masterdata.QualityRule",
        "masterdata.DuplicateSuspect",
        "masterdata.Conflict",
        "masterdata.SourceLink",
        "masterdata.Employee",
        "masterdata.Customer",
        "masterdata.Supplier",
        "masterdata.Material",
        "masterdata.OrgUnitUserPermission",
        "masterdata.OrgUnitClosure",
        "masterdata.OrgUnit",
        "masterdata.SourceSystem",
    ]
    return [apps.get_model(label) for label in labels]


def load(rows: int) -> None:
    """Empty and fill every benchmarked table (CASCADE takes whatever refers to them along)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.utils import timezone

    from connectors.models import Delivery, PushTarget, SyncFailure, SyncRun
    from masterdata.models import (
        Conflict,
        Customer,
        DuplicateSuspect,
        Employee,
        Material,
        OrgUnit,
        OrgUnitClosure,
        OrgUnitUserPermission,
        QualityIssue,
        QualityRule,
        QualityScore,
        SourceLink,
        SourceSystem,
        Supplier,
    )

    user_model = get_user_model()
    quoted = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in tables())
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    user_model.objects.filter(username__startswith="bench-user-").delete()
    rng = random.Random(SEED)
    now = timezone.now()
    started = time.perf_counter()

    # 1 group ▸ 4 companies. Company 1 (the steward's) has 50 departments; the other units, cost centres,
    # are spread over companies 2–4. Ids are chosen here so the closure can be written directly.
    units = rows
    company_of = {n: 2 if n <= 55 else 3 + (n - 56) % (COMPANIES - 1) for n in range(6, units + 1)}
    units_of = {c: [c] for c in range(2, 2 + COMPANIES)}
    for n, company in company_of.items():
        units_of[company].append(n)

    def unit(n: int) -> dict[str, Any]:
        if n == 1:
            return {"id": 1, "code": "BGRP", "name": "Bench Group", "unit_type": "group", "parent_id": None}
        if n <= 1 + COMPANIES:
            return {
                "id": n,
                "code": f"BC{n - 1}",
                "name": f"Bench Company {n - 1}",
                "unit_type": "company",
                "parent_id": 1,
            }
        kind = "department" if company_of[n] == 2 else "cost_centre"
        return {
            "id": n,
            "code": f"BC{company_of[n] - 1}-{n:06d}",
            "name": f"{kind.replace('_', ' ')} {n}",
            "unit_type": kind,
            "parent_id": company_of[n],
        }

    copy_model(OrgUnit, units, unit, with_id=True)
    reset_sequence(OrgUnit)
    closure = [(n, n, 0) for n in range(1, units + 1)]
    closure += [(1, n, 1) for n in range(2, 2 + COMPANIES)]
    closure += [(1, n, 2) for n in range(6, units + 1)] + [(company_of[n], n, 1) for n in range(6, units + 1)]
    copy_rows(OrgUnitClosure, ["ancestor", "descendant", "depth"], closure)

    def owner() -> int:
        """Records are spread evenly over the companies, and within each over its units."""
        return rng.choice(units_of[rng.randint(2, 1 + COMPANIES)])

    customer_owners = [0] + [owner() for _ in range(rows)]

    copy_model(
        Customer,
        rows,
        lambda n: {
            "code": f"C{n:07d}",
            "name": f"Customer {n:07d} Trading",
            "country": rng.choice(COUNTRIES),
            "credit_rating": rng.choice("ABC"),
            "owner_org_id": customer_owners[n],
        },
    )
    copy_model(
        Supplier,
        rows,
        lambda n: {
            "code": f"S{n:07d}",
            "name": f"Supplier {n:07d} Ltd",
            "country": rng.choice(COUNTRIES),
            "payment_terms": "NET30",
            "owner_org_id": owner(),
        },
    )
    copy_model(Material, rows, lambda n: {"code": f"M{n:07d}", "name": f"Material {n:07d}", "specification": "—"})
    copy_model(
        Employee,
        rows,
        lambda n: {
            "code": f"E{n:07d}",
            "name": f"Employee {n:07d}",
            "org_unit_id": owner(),
            "position": "Clerk",
            "manager_id": None,
        },
    )
    source = SourceSystem.objects.create(code="bench-erp", name="Bench ERP", kind="erp")
    copy_model(
        SourceLink,
        rows,
        lambda n: {
            "source_id": source.pk,
            "domain": "customer",
            "source_key": f"K{n:07d}",
            "golden_id": n,
            "last_seen_at": now,
        },
    )

    def customer_owner(n: int) -> int:  # governance rows copy the owner of their record
        return customer_owners[n]

    copy_model(
        Conflict,
        rows,
        lambda n: {
            "domain": "customer",
            "golden_id": n,
            "field": "email",
            "reason": "equal_trust",
            "owner_org_id": customer_owner(n),
            "candidates": [{"source": "bench-erp", "value": f"x{n}@example.com"}],
        },
    )
    copy_model(
        DuplicateSuspect,
        rows,
        lambda n: {
            "domain": "customer",
            "golden_id_a": n,
            "golden_id_b": n + rows,
            "score": 90.0,
            "owner_org_id": customer_owner(n),
        },
    )
    rule = QualityRule.objects.create(domain="customer", field="email", kind="required")
    copy_model(
        QualityIssue,
        rows,
        lambda n: {
            "domain": "customer",
            "golden_id": n,
            "rule_id": rule.pk,
            "field": "email",
            "message": "required",
            "owner_org_id": customer_owner(n),
            "detected_at": now,
        },
    )
    copy_model(
        QualityScore,
        rows,
        lambda n: {
            "domain": "customer",
            "golden_id": n,
            "score": n % 101,
            "open_issues": n % 3,
            "owner_org_id": customer_owner(n),
            "checked_at": now,
        },
    )
    target = PushTarget.objects.create(
        source=source, domain="customer", resource="/c", key_field="id", field_map={"code": "code"}
    )
    copy_model(
        Delivery,
        rows,
        lambda n: {
            "target_id": target.pk,
            "domain": "customer",
            "golden_id": n,
            "version": 1,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    copy_model(
        SyncRun,
        rows,
        lambda n: {
            "source_id": source.pk,
            "domain": "customer",
            "status": "succeeded",
            "started_at": now - timedelta(minutes=n),
            "fetched": 100,
            "finished_at": now - timedelta(minutes=n) + timedelta(seconds=20),
        },
    )

    def failure(n: int) -> dict[str, Any]:
        outbound = n % 2 == 0
        return {
            "source_id": source.pk,
            "domain": "customer",
            "golden_id": n,
            "owner_org_id": customer_owner(n),
            "stage": "push" if outbound else "validate",
            "direction": "outbound" if outbound else "inbound",
            "push_target_id": target.pk if outbound else None,
            "classification": "transient" if outbound else "bad_data",
            "source_key": f"K{n:07d}",
            "fingerprint": f"push:{n}" if outbound else f"K{n:07d}",
            "error": "email: Enter a valid email address.",
            "payload": {"id": f"K{n:07d}", "email": "not an address"},
            "first_failed_at": now - timedelta(seconds=n),
            "last_failed_at": now - timedelta(seconds=n),
        }

    copy_model(SyncFailure, rows, failure)
    copy_model(
        user_model,
        rows,
        lambda n: {"username": f"bench-user-{n:07d}", "password": "!", "is_active": True, "date_joined": now},
    )
    user_ids = [
        0,
        *user_model.objects.filter(username__startswith="bench-user-")
        .order_by("username")
        .values_list("pk", flat=True),
    ]
    view = Permission.objects.get(codename="view_orgunit", content_type__app_label="masterdata")
    copy_model(
        OrgUnitUserPermission,
        rows,
        lambda n: {"user_id": user_ids[n], "permission_id": view.pk, "content_object_id": 1 + (n * 31) % units},
    )
    with connection.cursor() as cursor:
        for model in [*tables(), user_model]:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    elapsed = time.perf_counter() - started
    print(f"loaded {rows:,} rows into each benchmarked table with COPY in {elapsed:.0f} s")


def users() -> tuple[Any, Any]:
    """A steward (the stewards' model permissions; view, change and resolve on company 1) and a superuser."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    from masterdata.models import OrgUnit
    from masterdata.services import access

    user_model = get_user_model()
    group, _ = Group.objects.get_or_create(name="Bench list stewards")
    names = [f"{a}_{m}" for m in ("customer", "supplier", "material", "employee") for a in ("view", "change")]
    names.append("view_sourcelink")  # as the demo's stewards: the links of their records
    group.permissions.set(Permission.objects.filter(content_type__app_label="masterdata", codename__in=names))
    steward, _ = user_model.objects.get_or_create(username=STEWARD, defaults={"is_staff": True})
    steward.groups.add(group)
    company = OrgUnit.objects.get(code="BC1")
    for action in ("view", "change", "resolve"):
        access.grant(steward, action, company)
    superuser, _ = user_model.objects.get_or_create(
        username=SUPERUSER, defaults={"is_staff": True, "is_superuser": True}
    )
    return steward, superuser
