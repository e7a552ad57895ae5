"""Benchmark: the scoped customer list API against guardian's generic per-object permissions.

Not part of the test run. A *read* benchmark: it loads golden records with PostgreSQL's COPY,
bypassing the write path (no history rows, no outbox events), because only list latency is
measured here.

It loads N customers owned by the units of an org tree (1 group ▸ 4 companies ▸ departments),
gives a steward ``view`` on part of the tree (whole companies *and* single departments, so the
subtree inheritance matters) and times ``GET /api/v1/customers/?page_size=50`` in-process
through the full stack (middleware, token authentication, DRF, serialization; DEBUG off, https)
for the steward and for a superuser, on the first page and on a deep cursor page. The baseline
serves the same endpoint through the same stack, but with the queryset of guardian's generic
``get_objects_for_user`` over one ``UserObjectPermission`` row per visible customer — the
usual way without org-unit inheritance. Ratios compare the two within the same run.

Usage (the database is created when missing; its name must contain "bench", since --reload
truncates the org units, customers and everything referencing them)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench .venv/bin/python bench/api_list.py \
        [--customers 100000] [--org-units 50] [--requests 200] [--reload] [--explain]

Target: steward p95 under 50 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import secrets
import statistics
import sys
import time
import types
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LIST_PATH = "/api/v1/customers/"
BASELINE_PATH = "/bench/guardian/customers/"
STEWARD, SUPERUSER = "bench-steward", "bench-admin"
VIEWER_GROUP = "Bench customer viewers"
COMPANIES = 4
SEED = 20240501
COUNTRIES = ("CN", "DE", "US", "FR", "JP", "GB", "IT", "ES", "NL", "SE")
RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B")


# --- environment and database ----------------------------------------------------------------
def configure_environment() -> str:
    """Production-like settings: DEBUG off, a secret key, the test client's host allowed."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/mdm_bench")
    os.environ["DJANGO_SETTINGS_MODULE"] = "mdm_project.settings"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-{secrets.token_hex(32)}")
    # Production settings need an encryption key (sensitive fields, sealed payloads); a bench run's own will do.
    os.environ.setdefault("MDM_ENCRYPTION_KEYS", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("MDM_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(PROJECT_ROOT))
    return url


def ensure_database(url: str, *, fresh: bool = False) -> str:
    """Create the benchmark database when missing (connecting to the ``postgres`` database).

    ``fresh``: drop it first when it exists, so that a run does not inherit what earlier runs wrote.
    """
    import dj_database_url
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    config = dj_database_url.parse(url)
    name = config["NAME"]
    if "bench" not in name:
        sys.exit(f"Refusing database {name!r}: the benchmark only writes to a database whose name contains 'bench'.")
    params = {"user": config["USER"], "password": config["PASSWORD"], "host": config["HOST"], "port": config["PORT"]}
    conninfo = make_conninfo("", dbname="postgres", **{k: str(v) for k, v in params.items() if v})
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    return name


# --- loading ---------------------------------------------------------------------------------
@dataclass
class OrgTree:
    group: Any
    companies: list[Any]
    departments: dict[int, list[Any]] = field(default_factory=dict)  # company id → its departments

    @property
    def units(self) -> list[Any]:
        return [self.group, *self.companies, *(d for deps in self.departments.values() for d in deps)]


def copy_rows(model: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Load rows with COPY: seconds for 100,000 records where INSERTs take minutes."""
    from django.db import connection

    quote = connection.ops.quote_name
    column_list = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    statement = f"COPY {quote(model._meta.db_table)} ({column_list}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def wipe() -> None:
    """Empty the tables the benchmark loads (CASCADE: whatever references org units goes too)."""
    from django.db import connection
    from guardian.models import UserObjectPermission

    from masterdata.models import Customer, OrgUnit, OrgUnitClosure, OrgUnitGroupPermission, OrgUnitUserPermission

    models = (Customer, UserObjectPermission, OrgUnitClosure, OrgUnitUserPermission, OrgUnitGroupPermission, OrgUnit)
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def build_org_tree(total_units: int) -> OrgTree:
    """1 group ▸ 4 companies ▸ the remaining units as departments, dealt round-robin."""
    from masterdata.models import OrgUnit, OrgUnitType
    from masterdata.services import orgtree

    (group,) = OrgUnit.objects.bulk_create([OrgUnit(code="BGRP", name="Bench Group", unit_type=OrgUnitType.GROUP)])
    companies = OrgUnit.objects.bulk_create(
        OrgUnit(code=f"BC{i}", name=f"Bench Company {i}", unit_type=OrgUnitType.COMPANY, parent=group)
        for i in range(1, COMPANIES + 1)
    )
    departments = [
        OrgUnit(
            code=f"BC{n % COMPANIES + 1}-D{n:02d}",
            name=f"Department {n}",
            unit_type=OrgUnitType.DEPARTMENT,
            parent=companies[n % COMPANIES],
        )
        for n in range(total_units - 1 - COMPANIES)
    ]
    OrgUnit.objects.bulk_create(departments)
    orgtree.rebuild_closure()  # bulk_create skips OrgUnit.save, which maintains the closure
    return read_org_tree()


def read_org_tree() -> OrgTree:
    from masterdata.models import OrgUnit

    units = list(OrgUnit.objects.filter(code__startswith="BC").order_by("code")) + list(
        OrgUnit.objects.filter(code="BGRP")
    )
    companies = [u for u in units if u.parent_id is not None and "-" not in u.code]
    tree = OrgTree(group=units[-1], companies=companies)
    for company in companies:
        tree.departments[company.pk] = sorted((u for u in units if u.parent_id == company.pk), key=lambda u: u.pk)
    return tree


def load_customers(count: int, unit_ids: list[int]) -> None:
    """COPY ``count`` customers spread at random (fixed seed) over every org unit."""
    from django.db import connection
    from django.utils import timezone

    from masterdata.models import Customer

    fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    rng = random.Random(SEED)

    def rows() -> Iterable[list[Any]]:
        for n in range(1, count + 1):
            given = {
                "code": f"CUST-{n:07d}",
                "name": f"Customer {n:07d} Trading Co.",
                "tax_id": f"91310000{n:010d}",
                "credit_rating": rng.choice(RATINGS),
                "credit_limit": rng.randrange(10_000, 5_000_000, 1_000),
                "currency": "CNY",
                "country": rng.choice(COUNTRIES),
                "address": f"{n} Bench Road",
                "phone": f"+86 21 {n:08d}",
                "email": f"buyer{n}@customer.example",
                "owner_org_id": rng.choice(unit_ids),
            }
            row = []
            for f in fields:
                if f.attname in given:
                    value = given[f.attname]
                elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                    value = now
                else:
                    value = f.get_default()
                row.append(f.get_db_prep_save(value, connection))
            yield row

    copy_rows(Customer, [f.name for f in fields], rows())


def steward_grants(tree: OrgTree, target_units: int) -> list[Any]:
    """Company 1 (its whole subtree), a redundant department under it, then single departments
    of the other companies in turn until the scope covers ``target_units`` units."""
    first = tree.companies[0]
    grants = [first]
    covered = 1 + len(tree.departments[first.pk])
    if tree.departments[first.pk]:
        grants.append(tree.departments[first.pk][0])  # overlaps the company grant: must not double rows
    others = [tree.departments[c.pk] for c in tree.companies[1:]]
    for depth in range(max((len(d) for d in others), default=0)):
        for departments in others:
            if covered < target_units and depth < len(departments):
                grants.append(departments[depth])
                covered += 1
    return grants


def ensure_users(grants: list[Any]) -> tuple[Any, Any]:
    """A steward with ``view_customer`` via a group plus org-unit grants, and a superuser."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    from masterdata.models import OrgUnitUserPermission
    from masterdata.services import access

    user_model = get_user_model()
    group, _ = Group.objects.get_or_create(name=VIEWER_GROUP)
    group.permissions.set(Permission.objects.filter(content_type__app_label="masterdata", codename="view_customer"))
    steward, _ = user_model.objects.get_or_create(username=STEWARD, defaults={"is_staff": True})
    steward.groups.add(group)
    superuser, _ = user_model.objects.get_or_create(
        username=SUPERUSER, defaults={"is_staff": True, "is_superuser": True}
    )
    OrgUnitUserPermission.objects.filter(user=steward).exclude(content_object__in=grants).delete()
    for unit in grants:
        access.grant(steward, "view", unit)
    return steward, superuser


def visible_ids(user: Any) -> list[int]:
    """Ids of the customers ``user`` may view, by the hub's own scope rule, in list order."""
    from masterdata.models import Customer
    from masterdata.registry import registry
    from masterdata.services import access

    scoped = access.restrict(user, registry.get("customer"), Customer.objects.all(), "view")
    return list(scoped.order_by("id").values_list("id", flat=True))


def ensure_baseline_permissions(steward: Any, ids: list[int]) -> bool:
    """One generic guardian row per customer the steward sees: what inheritance saves."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from guardian.models import UserObjectPermission

    from masterdata.models import Customer

    content_type = ContentType.objects.get_for_model(Customer)
    permission = Permission.objects.get(content_type=content_type, codename="view_customer")
    existing = UserObjectPermission.objects.filter(user=steward, content_type=content_type)
    if existing.count() == len(ids) == existing.filter(permission=permission).count():
        return False
    # One statement, like the COPY below: a row-by-row delete would also write an audit event per row.
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(UserObjectPermission._meta.db_table)} "
            "WHERE user_id = %s AND content_type_id = %s",
            [steward.pk, content_type.pk],
        )
    rows = ((str(pk), content_type.pk, permission.pk, steward.pk) for pk in ids)
    copy_rows(UserObjectPermission, ["object_pk", "content_type", "permission", "user"], rows)
    return True


def vacuum_analyze() -> None:
    """Fresh planner statistics and visibility maps, as autovacuum would leave a live database."""
    from django.db import connection
    from guardian.models import UserObjectPermission

    from masterdata.models import Customer, OrgUnit, OrgUnitClosure, OrgUnitUserPermission

    with connection.cursor() as cursor:
        for model in (Customer, UserObjectPermission, OrgUnit, OrgUnitClosure, OrgUnitUserPermission):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def prepare_data(customers: int, org_units: int, reload: bool) -> tuple[Any, Any, OrgTree, list[Any]]:
    """Load once; later runs reuse the data when the counts match (``--reload`` rebuilds)."""
    from masterdata.models import Customer, OrgUnit

    loaded = OrgUnit.objects.count() == org_units and Customer.objects.count() == customers
    changed = False
    if reload or not loaded:
        started = time.perf_counter()
        wipe()
        tree = build_org_tree(org_units)
        load_customers(customers, [u.pk for u in tree.units])
        print(
            f"loaded {org_units} org units and {customers:,} customers with COPY in "
            f"{time.perf_counter() - started:.1f} s (read benchmark: no history rows, no outbox events)"
        )
        changed = True
    else:
        tree = read_org_tree()
        print(f"reusing {org_units} org units and {customers:,} customers (pass --reload to rebuild)")
    grants = steward_grants(tree, org_units // 2)
    steward, superuser = ensure_users(grants)
    started = time.perf_counter()
    if ensure_baseline_permissions(steward, visible_ids(steward)):
        print(f"loaded guardian's generic per-object rows in {time.perf_counter() - started:.1f} s")
        changed = True
    if changed:
        vacuum_analyze()
    return steward, superuser, tree, grants


# --- the baseline endpoint -------------------------------------------------------------------
def install_baseline_urls() -> None:
    """Mount the guardian-baseline viewset next to the real API via a bench-local URLconf."""
    from django.db import models
    from django.test.utils import override_settings
    from django.urls import include, path
    from guardian.shortcuts import get_objects_for_user
    from rest_framework.routers import SimpleRouter

    import mdm_project.urls as project_urls
    from masterdata.api.views import build_viewset
    from masterdata.registry import registry

    domain = registry.get("customer")

    class GuardianBaselineCustomerViewSet(build_viewset(domain)):
        """The customer endpoint with guardian's generic per-object filter instead of org scope.

        ``accept_global_perms=False``: the steward's model permission ``view_customer`` (which
        the endpoint requires) must not widen the list to every customer.
        """

        def get_queryset(self):
            model = self.domain.model_class
            related = [f.name for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]
            perm = f"{model._meta.app_label}.view_{model._meta.model_name}"
            objects = get_objects_for_user(self.request.user, perm, model, accept_global_perms=False)
            return objects.select_related(*related)

    router = SimpleRouter()
    router.register("customers", GuardianBaselineCustomerViewSet, basename="bench-guardian-customer")
    urlconf = types.ModuleType("bench_api_list_urls")
    urlconf.urlpatterns = [*project_urls.urlpatterns, path("bench/guardian/", include(router.urls))]
    sys.modules[urlconf.__name__] = urlconf
    override_settings(ROOT_URLCONF=urlconf.__name__).enable()


# --- measuring -------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    client: Any
    path: str
    samples: list[float] = field(default_factory=list)
    rows: int = 0
    queries: int = 0
    ids: list[int] = field(default_factory=list)

    def fetch(self) -> dict[str, Any]:
        response = self.client.get(self.path, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"{self.name}: HTTP {response.status_code} {response.content[:300]!r}")
        return response.json()


def client_for(user: Any) -> Any:
    from rest_framework.test import APIClient

    from masterdata.services import tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens.issue(user, 'bench').key}")
    return client


def cursor_path(path: str, page_size: int, after_id: int) -> str:
    """The URL DRF's ``next`` link has for the page after ``after_id`` (ordering by id)."""
    from rest_framework.pagination import Cursor

    from masterdata.api.pagination import GoldenCursorPagination

    pager = GoldenCursorPagination()
    pager.base_url = f"https://testserver{path}?page_size={page_size}"
    url = urlsplit(pager.encode_cursor(Cursor(offset=0, reverse=False, position=str(after_id))))
    return f"{url.path}?{url.query}"


def build_scenarios(steward: Any, superuser: Any, page_size: int, deep_page: int) -> list[Scenario]:
    """Deep pages jump straight to the cursor that following ``next`` links would reach."""
    from masterdata.models import Customer

    steward_ids = visible_ids(steward)
    after = (deep_page - 1) * page_size - 1
    if after >= len(steward_ids):
        raise SystemExit(f"--deep-page {deep_page} lies beyond the steward's {len(steward_ids)} rows.")
    all_after = Customer.objects.order_by("id").values_list("id", flat=True)[after]
    ours, baseline, admin = client_for(steward), client_for(steward), client_for(superuser)
    first = f"?page_size={page_size}"
    scenarios = [
        Scenario("steward first page", ours, f"{LIST_PATH}{first}"),
        Scenario("steward deep page", ours, cursor_path(LIST_PATH, page_size, steward_ids[after])),
        Scenario("guardian baseline first page", baseline, f"{BASELINE_PATH}{first}"),
        Scenario("guardian baseline deep page", baseline, cursor_path(BASELINE_PATH, page_size, steward_ids[after])),
        Scenario("superuser first page", admin, f"{LIST_PATH}{first}"),
        Scenario("superuser deep page", admin, cursor_path(LIST_PATH, page_size, all_after)),
    ]
    first_page = scenarios[0].fetch()
    expected_next = cursor_path(LIST_PATH, page_size, steward_ids[page_size - 1])
    actual_next = urlsplit(first_page["next"])
    if f"{actual_next.path}?{actual_next.query}" != expected_next:
        raise SystemExit(f"Cursor construction differs from DRF's next link: {first_page['next']}")
    return scenarios


def check_same_rows(scenarios: list[Scenario]) -> None:
    """Ours and the baseline must list exactly the same customers, or the ratio means nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for scenario in scenarios:
        with CaptureQueriesContext(connection) as captured:
            body = scenario.fetch()
        scenario.ids = [row["id"] for row in body["results"]]
        scenario.rows = len(scenario.ids)
        scenario.queries = len(captured.captured_queries)
    by_name = {s.name: s for s in scenarios}
    for page in ("first", "deep"):
        ours, theirs = by_name[f"steward {page} page"], by_name[f"guardian baseline {page} page"]
        if not ours.ids or ours.ids != theirs.ids:
            raise SystemExit(f"{page} page: steward and baseline rows differ: {ours.ids[:5]} vs {theirs.ids[:5]}")


def warm_up(scenarios: list[Scenario], rounds: int) -> None:
    for _ in range(rounds):
        for scenario in scenarios:
            scenario.fetch()


def run(scenarios: list[Scenario], requests: int) -> None:
    """Interleave the scenarios so that noise from a shared machine hits all of them alike."""
    for _ in range(requests):
        for scenario in scenarios:
            started = time.perf_counter()
            scenario.fetch()
            scenario.samples.append((time.perf_counter() - started) * 1000)


def median_p95(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def explain(scenario: Scenario) -> None:
    """EXPLAIN ANALYZE the page query of one request, as the stack sent it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from masterdata.models import Customer

    table = Customer._meta.db_table
    with CaptureQueriesContext(connection) as captured:
        scenario.fetch()
    page_sql = [q["sql"] for q in captured.captured_queries if f'FROM "{table}"' in q["sql"] and "LIMIT" in q["sql"]]
    print(f"\n--- {scenario.name}: {len(captured.captured_queries)} queries; the page query:")
    for sql in page_sql:
        print(sql)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print("\n".join(line for (line,) in cursor.fetchall()))


# --- entry point -----------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--org-units", type=int, default=50, help="1 group + 4 companies + departments (min 6)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per scenario first")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--deep-page", type=int, default=0, help="page number of the deep page (0: 90%% down)")
    parser.add_argument("--reload", action="store_true", help="rebuild the data even if the counts match")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the page queries")
    args = parser.parse_args(argv)
    if args.org_units < 2 + COMPANIES or args.customers < 1 or args.requests < 2:
        parser.error("need --org-units >= 6, --customers >= 1 and --requests >= 2")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    database = ensure_database(configure_environment())

    import django
    from django.core.management import call_command

    # WhiteNoise warns when collectstatic never ran; the API serves no static files.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django.setup()
    call_command("migrate", verbosity=0)
    steward, superuser, tree, grants = prepare_data(args.customers, args.org_units, args.reload)
    install_baseline_urls()

    steward_rows = len(visible_ids(steward))
    deep_page = args.deep_page or max(2, int(steward_rows * 0.9) // args.page_size)
    scenarios = build_scenarios(steward, superuser, args.page_size, deep_page)
    warm_up(scenarios, args.warmup)
    check_same_rows(scenarios)
    run(scenarios, args.requests)

    from masterdata.services import access

    scope = len(set(access.granted_unit_ids(steward, "view").values_list("descendant_id", flat=True)))
    print(f"\nGET {LIST_PATH}?page_size={args.page_size} on PostgreSQL database {database}")
    print(
        f"{args.customers:,} customers under {len(tree.units)} org units; steward granted {len(grants)} units "
        f"(company {tree.companies[0].code} and single departments) → scope {scope} units, {steward_rows:,} customers"
    )
    print(
        "measured over HTTP in-process: django.test client through middleware, token auth, DRF and JSON, "
        "DEBUG off, https"
    )
    print(f"deep page = page {deep_page} (cursor after row {(deep_page - 1) * args.page_size:,})")
    print(f"{args.requests} timed requests per scenario after {args.warmup} warm-up, interleaved\n")
    print(f"{'scenario':<32}{'median ms':>10}{'p95 ms':>10}{'rows':>6}{'queries':>9}")
    for s in scenarios:
        median, p95 = median_p95(s.samples)
        print(f"{s.name:<32}{median:>10.1f}{p95:>10.1f}{s.rows:>6}{s.queries:>9}")
    by_name = {s.name: median_p95(s.samples) for s in scenarios}
    print("\nratio guardian baseline / ours (steward)")
    for page in ("first", "deep"):
        ours, theirs = by_name[f"steward {page} page"], by_name[f"guardian baseline {page} page"]
        print(f"  {page:<5} page: median ×{theirs[0] / ours[0]:.2f}, p95 ×{theirs[1] / ours[1]:.2f}")
    worst = max(by_name["steward first page"][1], by_name["steward deep page"][1])
    print(f"\ntarget steward p95 < 50 ms: {'met' if worst < 50 else 'MISSED'} (worst steward p95 {worst:.1f} ms)")
    if args.explain:
        explain(scenarios[0])
        explain(scenarios[2])


if __name__ == "__main__":
    main()
