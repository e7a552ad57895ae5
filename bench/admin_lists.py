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
full result count, with the same scoping as ours so that both list the same rows. The admin
index is timed too (it carries the dashboard: grouped counts over all of the above), against
Django's stock index with the same menu; it is shown, but not held to the lists' target.

Usage (the database is created when missing; its name must contain "bench", since loading
truncates the tables it fills)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench_admin .venv/bin/python bench/admin_lists.py \
        [--rows 100000] [--requests 15] [--reload] [--only customers,failures]

Target: p95 under 300 ms for every list, steward and superuser.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from admin_lists_data import load, users
from api_list import configure_environment, ensure_database

TARGET_MS = 300
#: Not a list: the admin index with the dashboard, against the stock index of the baseline site.
DASHBOARD = "index (dashboard)"


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


def links_scope(user, queryset):
    from masterdata.services import stewardship

    return stewardship.restrict_links(user, queryset)


def failure_scope(user, queryset):
    from connectors.services import failures

    return failures.visible(user, queryset.filter(status="open"))


CASES = [
    ListCase("customers", "masterdata.Customer", scope=golden_scope("customer")),
    ListCase("suppliers", "masterdata.Supplier", scope=golden_scope("supplier")),
    ListCase("materials", "masterdata.Material", scope=golden_scope("material")),
    ListCase("employees", "masterdata.Employee", scope=golden_scope("employee")),
    ListCase("org units", "masterdata.OrgUnit", scope=golden_scope("org_unit")),
    ListCase("source links", "masterdata.SourceLink", scope=links_scope),
    ListCase("conflicts", "masterdata.Conflict", scope=stewardship_scope),
    ListCase("duplicate suspects", "masterdata.DuplicateSuspect", scope=stewardship_scope),
    ListCase(
        "quality issues",
        "masterdata.QualityIssue",
        scope=lambda u, q: stewardship_scope(u, q).filter(resolved_at__isnull=True),
    ),
    ListCase("quality scores", "masterdata.QualityScore", scope=stewardship_scope),
    ListCase("sync failures", "connectors.SyncFailure", query="status__exact=open", scope=failure_scope),
    ListCase("sync runs", "connectors.SyncRun", steward=False),
    ListCase("deliveries", "connectors.Delivery", steward=False),
    ListCase("grants (permissions)", "masterdata.OrgUnitUserPermission", query="kind=all", steward=False),
    ListCase(DASHBOARD, ""),
]


def stock_index_site():
    """An admin site whose index is Django's own template (the project's adds the dashboard)."""
    from pathlib import Path

    import django.contrib.admin as admin_package
    from django.contrib import admin
    from django.template import engines
    from django.template.response import TemplateResponse

    stock = (Path(admin_package.__file__).parent / "templates" / "admin" / "index.html").read_text()
    template = engines["django"].from_string(stock)

    class StockIndexSite(admin.AdminSite):
        def index(self, request, extra_context=None):
            """The project's own menu in Django's stock index: what the dashboard adds is the difference."""
            context = {
                **self.each_context(request),
                "title": self.index_title,
                "app_list": admin.site.get_app_list(request),
                **(extra_context or {}),
            }
            return TemplateResponse(request, template, context)

    return StockIndexSite


def baseline_site(cases: list[ListCase]):
    """A second admin site with a default ModelAdmin per list: model columns, no select_related, full count."""
    from django.contrib import admin

    site = stock_index_site()(name="bench_baseline")
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
            if case.name != DASHBOARD:  # the index is not a list: shown, but not held to the lists' target
                worst = max(worst, ours[1])
            print(
                f"{case.name:<22}{who:<11}{ours[0]:>9.1f}{ours[1]:>8.1f}{case.queries[f'{who} ours']:>4}"
                f"{base[0]:>14.1f}{base[1]:>8.1f}{case.queries[f'{who} baseline']:>5}{base[1] / ours[1]:>7.2f}"
            )
    met = worst < TARGET_MS
    print(f"\ntarget p95 < {TARGET_MS} ms on every list: {'met' if met else 'MISSED'} (worst list p95 {worst:.1f} ms)")
    print("(q: queries per page; ×p95: baseline p95 / ours; the baseline index is Django's own, without the dashboard)")
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
