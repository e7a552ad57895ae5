"""Benchmark: every steward list page of the admin with 100,000 rows, ours against a default ModelAdmin.

Not part of the test run. A *read* benchmark: rows are loaded with PostgreSQL's COPY, bypassing
the write path (no history, no outbox), because only the list pages are measured.

It loads ``--rows`` rows (default 100,000) into each listed table — customers, suppliers,
materials, employees, org units, source links, conflicts, duplicate suspects, quality issues,
sync failures, sync runs, push deliveries and org-unit grants (with as many users) — under an
org tree of 1 group ▸ 4 companies ▸ departments (the org units themselves), and times the first
page of each admin change list in-process through the whole stack (middleware, session login,
the admin, templates; DEBUG off) for a steward granted view/change/resolve on one company's
subtree (a quarter of everything) and for a superuser.

The baseline is the same list served by a default ``ModelAdmin`` on a second admin site: the
model's own columns, no ``list_select_related`` (one query per row and foreign key) and the
full result count, with the same scoping as ours so that both list the same rows.

Usage (the database is created when missing; its name must contain "bench", since loading
truncates the tables it fills)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench_admin .venv/bin/python bench/admin_lists.py \
        [--rows 100000] [--requests 15] [--reload] [--only customers,failures]

Target: p95 under 300 ms for every list, steward and superuser.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from api_list import configure_environment, copy_rows, ensure_database

STEWARD, SUPERUSER = "bench-list-steward", "bench-list-admin"
COMPANIES = 4
SEED = 20240601
TARGET_MS = 300
#: Not a list: the admin index with the dashboard, against the stock index of the baseline site.
DASHBOARD = "index (dashboard)"
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


# --- the lists and their baselines ----------------------------------------------------------------
@dataclass
class ListCase:
    name: str
    model: str
    query: str = ""
    steward: bool = True
    scope: Callable[[Any, Any], Any] | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)


def golden_scope(domain_name: str):
    def scope(user, queryset):
        from masterdata.registry import registry
        from masterdata.services import access

        return access.restrict(user, registry.get(domain_name), queryset, "view")

    return scope


def stewardship_scope(user, queryset):
    from masterdata.services import stewardship

    return stewardship.restrict(
        user, queryset.filter(**({"status": "open"} if hasattr(queryset.model, "status") else {})), "view"
    )


def failure_scope(user, queryset):
    from connectors.services import failures

    return failures.visible(user, queryset.filter(status="open"))


CASES = [
    ListCase("customers", "masterdata.Customer", scope=golden_scope("customer")),
    ListCase("suppliers", "masterdata.Supplier", scope=golden_scope("supplier")),
    ListCase("materials", "masterdata.Material", scope=golden_scope("material")),
    ListCase("employees", "masterdata.Employee", scope=golden_scope("employee")),
    ListCase("org units", "masterdata.OrgUnit", scope=golden_scope("org_unit")),
    ListCase("source links", "masterdata.SourceLink", steward=False),
    ListCase("conflicts", "masterdata.Conflict", scope=stewardship_scope),
    ListCase("duplicate suspects", "masterdata.DuplicateSuspect", scope=stewardship_scope),
    ListCase(
        "quality issues",
        "masterdata.QualityIssue",
        scope=lambda u, q: stewardship_scope(u, q).filter(resolved_at__isnull=True),
    ),
    ListCase("sync failures", "connectors.SyncFailure", query="status__exact=open", scope=failure_scope),
    ListCase("sync runs", "connectors.SyncRun", steward=False),
    ListCase("deliveries", "connectors.Delivery", steward=False),
    ListCase("grants (permissions)", "masterdata.OrgUnitUserPermission", query="kind=all", steward=False),
    ListCase(DASHBOARD, ""),
]


def baseline_site(cases: list[ListCase]):
    """A second admin site with a default ModelAdmin per list: model columns, no select_related, full count."""
    from django.contrib import admin

    site = admin.AdminSite(name="bench_baseline")
    for case in cases:
        if case.name == DASHBOARD:
            continue
        model = _model(case.model)
        ours = admin.site.get_model_admin(model)
        columns = [name for name in ours.list_display if _is_field(model, name)] or ["__str__"]

        def get_queryset(self, request, _scope=case.scope):
            queryset = self.model._default_manager.all()
            return _scope(request.user, queryset) if _scope else queryset

        def has_permission(self, request, obj=None):
            return request.user.is_active and request.user.is_staff

        attrs = {
            "list_display": columns,
            "list_select_related": (),
            "show_full_result_count": True,
            "get_queryset": get_queryset,
            "has_view_permission": has_permission,
            "has_module_permission": has_permission,
        }
        site.register(model, type(f"Baseline{model.__name__}Admin", (admin.ModelAdmin,), attrs))
    return site


def _model(label: str):
    from django.apps import apps

    return apps.get_model(label)


def _is_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True


def install_urls(site) -> None:
    from django.conf import settings
    from django.test.utils import override_settings
    from django.urls import path

    import mdm_project.urls as project_urls

    urlconf = types.ModuleType("bench_admin_lists_urls")
    urlconf.urlpatterns = [path("bench-baseline/", site.urls), *project_urls.urlpatterns]
    sys.modules[urlconf.__name__] = urlconf
    # Static URLs without collectstatic's manifest: a dictionary lookup either way, not what is measured.
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    storages = {**settings.STORAGES, "staticfiles": plain}
    override_settings(ROOT_URLCONF=urlconf.__name__, STORAGES=storages).enable()


def url_of(case: ListCase, baseline: bool) -> str:
    from django.urls import reverse

    if case.name == DASHBOARD:
        return reverse("bench_baseline:index" if baseline else "admin:index")
    model = _model(case.model)
    name = f"{'bench_baseline' if baseline else 'admin'}:{model._meta.app_label}_{model._meta.model_name}_changelist"
    return reverse(name) + (f"?{case.query}" if case.query and not baseline else "")


# --- measuring -------------------------------------------------------------------------------------
def clients(steward, superuser) -> dict[str, Any]:
    from django.test import Client

    made = {}
    for name, user in (("steward", steward), ("superuser", superuser)):
        client = Client()
        client.force_login(user)
        made[name] = client
    return made


def fetch(client, url: str) -> None:
    response = client.get(url, secure=True)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")


def measure(cases: list[ListCase], logged_in: dict[str, Any], requests: int, warmup: int) -> None:
    """Interleaved: every scenario of every list once per round, so a noisy neighbour hits all alike."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    scenarios = []
    for case in cases:
        for who in ("steward", "superuser") if case.steward else ("superuser",):
            for baseline in (False, True):
                key = f"{who} {'baseline' if baseline else 'ours'}"
                scenarios.append((case, key, logged_in[who], url_of(case, baseline)))
    for case, key, client, url in scenarios:
        with CaptureQueriesContext(connection) as captured:
            fetch(client, url)
        case.queries[key] = len(captured)
        for _ in range(warmup):
            fetch(client, url)
    for _ in range(requests):
        for case, key, client, url in scenarios:
            started = time.perf_counter()
            fetch(client, url)
            case.samples.setdefault(key, []).append((time.perf_counter() - started) * 1000)


def p50_p95(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def report(cases: list[ListCase], rows: int, requests: int) -> bool:
    print(f"\nfirst page of each admin list, {rows:,} rows per table, {requests} timed requests per scenario")
    print(f"{'list':<22}{'who':<11}{'ours p50':>9}{'p95':>8}{'q':>4}{'baseline p50':>14}{'p95':>8}{'q':>5}{'×p95':>7}")
    worst = 0.0
    for case in cases:
        for who in ("steward", "superuser") if case.steward else ("superuser",):
            ours, base = p50_p95(case.samples[f"{who} ours"]), p50_p95(case.samples[f"{who} baseline"])
            worst = max(worst, ours[1])
            print(
                f"{case.name:<22}{who:<11}{ours[0]:>9.1f}{ours[1]:>8.1f}{case.queries[f'{who} ours']:>4}"
                f"{base[0]:>14.1f}{base[1]:>8.1f}{case.queries[f'{who} baseline']:>5}{base[1] / ours[1]:>7.2f}"
            )
    met = worst < TARGET_MS
    print(f"\ntarget p95 < {TARGET_MS} ms on every list: {'met' if met else 'MISSED'} (worst p95 {worst:.1f} ms)")
    return met


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per table (and org units)")
    parser.add_argument("--requests", type=int, default=15, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reload", action="store_true", help="reload the data even if the counts match")
    parser.add_argument("--only", default="", help="comma-separated list names (see CASES)")
    args = parser.parse_args(argv)
    if args.rows < 10 or args.requests < 2:
        parser.error("need --rows >= 10 and --requests >= 2")
    database = ensure_database(configure_environment())

    import django
    from django.core.management import call_command

    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django.setup()
    call_command("migrate", verbosity=0)
    from connectors.models import SyncFailure

    if args.reload or SyncFailure.objects.count() != args.rows:
        load(args.rows)
    else:
        print(f"reusing {args.rows:,} rows per table in {database} (pass --reload to rebuild)")
    steward, superuser = users()
    chosen = [c for c in CASES if not args.only or c.name in {n.strip() for n in args.only.split(",")}]
    install_urls(baseline_site(chosen))
    measure(chosen, clients(steward, superuser), args.requests, args.warmup)
    report(chosen, args.rows, args.requests)


if __name__ == "__main__":
    main()
