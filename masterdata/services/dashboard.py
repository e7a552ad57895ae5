"""The steward dashboard's figures: sync runs over time, open work by domain and org unit, push, quality.

Every figure is counted within the user's scope, with grouped queries (one per figure, never
one per row), and carries the filtered admin list behind it so a number is always one click
from the rows it counts.

Connectors depend on masterdata, never the reverse: sync runs, failures, deliveries and push
targets are looked up by name (``apps.get_model``), and a section whose models are not
installed says "not configured" instead of failing. Open work is rolled up to companies (the
org unit type stewards think in); rows owned above any company, or by no unit (materials,
failures of records the hub does not know yet), count as "Group level".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.apps import apps
from django.db.models import Avg, Count, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from masterdata.models import Conflict, DuplicateSuspect, OrgUnit, OrgUnitClosure, OrgUnitType
from masterdata.registry import registry
from masterdata.services import access, stewardship

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

SYNC_DAYS = 14
GROUP_LEVEL = "Group level"


def _model(label: str):
    """An optional model of another app, or None when that app is not installed."""
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def admin_list(model_label: str, **params: Any) -> str | None:
    """The admin changelist of ``app.Model`` with ``params`` as filters; None when it is not in the admin."""
    app_label, model_name = model_label.lower().split(".")
    try:
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
    except NoReverseMatch:
        return None
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{url}?{query}" if query else url


@dataclass
class Figure:
    """A number and the list behind it."""

    value: float | int | None
    url: str | None = None


# --- sync runs per source over time -------------------------------------------------------------------
@dataclass
class SyncDay:
    day: date
    runs: int = 0
    records: int = 0
    failures: int = 0
    seconds: float | None = None
    url: str | None = None


@dataclass
class SourceSeries:
    source_id: int
    code: str
    days: list[SyncDay]
    url: str | None = None

    @property
    def totals(self) -> dict[str, int]:
        return {name: sum(getattr(d, name) for d in self.days) for name in ("runs", "records", "failures")}


def may_see_sync_runs(user: AbstractBaseUser) -> bool:
    return bool(
        user.is_active and (user.has_perm("connectors.view_syncrun") or user.has_perm("connectors.change_syncrun"))
    )


def sync_runs(user: AbstractBaseUser, days: int = SYNC_DAYS, today: date | None = None) -> list[SourceSeries] | None:
    """Records read, records failed and run time per source and day (None: connectors not installed)."""
    run_model = _model("connectors.SyncRun")
    if run_model is None:
        return None
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))
    rows = (
        run_model.objects.filter(started_at__gte=start)
        .annotate(day=TruncDate("started_at", tzinfo=timezone.get_current_timezone()))
        .values("source_id", "source__code", "day")
        .annotate(
            runs=Count("id"),
            records=Sum("fetched"),
            failures=Sum("failed"),
            duration=Avg(F("finished_at") - F("started_at")),
        )
        .order_by("source__code", "day")
    )
    series: dict[int, SourceSeries] = {}
    for row in rows:
        entry = series.get(row["source_id"])
        if entry is None:
            entry = series[row["source_id"]] = SourceSeries(
                row["source_id"], row["source__code"], [SyncDay(first + timedelta(days=i)) for i in range(days)]
            )
        point = entry.days[(row["day"] - first).days]
        point.runs, point.records, point.failures = row["runs"], row["records"] or 0, row["failures"] or 0
        point.seconds = row["duration"].total_seconds() if row["duration"] is not None else None
    for entry in series.values():
        entry.url = admin_list(
            "connectors.SyncRun", source__id__exact=entry.source_id, started_at__gte=start.isoformat()
        )
        for point in entry.days:
            point.url = admin_list(
                "connectors.SyncRun",
                source__id__exact=entry.source_id,
                started_at__year=point.day.year,
                started_at__month=point.day.month,
                started_at__day=point.day.day,
            )
    return list(series.values())


# --- open work by domain and org unit ------------------------------------------------------------------
@dataclass
class WorkTable:
    """Open rows of one kind (conflicts, failures, duplicates): counts per org unit and domain."""

    kind: str
    domains: list[str]
    rows: list[tuple[str, dict[str, Figure], Figure]] = field(default_factory=list)
    by_domain: dict[str, Figure] = field(default_factory=dict)
    total: Figure = field(default_factory=lambda: Figure(0))
    configured: bool = True


def _companies_of(unit_ids: set[int]) -> dict[int, OrgUnit]:
    """The company each unit belongs to (itself when it is one); units above any company are left out."""
    rows = OrgUnitClosure.objects.filter(
        descendant_id__in=unit_ids, ancestor__unit_type=OrgUnitType.COMPANY
    ).select_related("ancestor")
    return {row.descendant_id: row.ancestor for row in rows}


def _table(kind: str, counts: dict[tuple[str, int | None], int], link) -> WorkTable:
    """Roll ``(domain, owning unit) → count`` up to companies; ``link(domain, unit)`` gives the list behind."""
    companies = _companies_of({unit for _, unit in counts if unit is not None})
    rolled: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    units: dict[int | None, OrgUnit | None] = {None: None}
    for (domain, unit), number in counts.items():
        company = companies.get(unit) if unit is not None else None
        key = company.pk if company is not None else None
        units[key] = company
        rolled[key][domain] += number
    domains = sorted({domain for domain, _ in counts}, key=[d.name for d in registry].index)
    table = WorkTable(kind, domains)
    for key in sorted(rolled, key=lambda k: ("~" if k is None else units[k].code)):
        unit = units[key]
        label = str(unit) if unit is not None else GROUP_LEVEL
        cells = {d: Figure(rolled[key][d], link(d, key)) for d in domains if rolled[key][d]}
        table.rows.append((label, cells, Figure(sum(rolled[key].values()), link(None, key))))
    for domain in domains:
        table.by_domain[domain] = Figure(sum(row[domain] for row in rolled.values()), link(domain, None))
    table.total = Figure(sum(f.value for f in table.by_domain.values()), link(None, None))
    return table


def _owner_counts(queryset: QuerySet) -> dict[tuple[str, int | None], int]:
    rows = queryset.values("domain", "owner_org").annotate(n=Count("id")).order_by()
    return {(row["domain"], row["owner_org"]): row["n"] for row in rows}


def _worklist_link(model_label: str):
    def link(domain: str | None, unit: int | None) -> str | None:
        return admin_list(model_label, status="open", domain__exact=domain, owner_org=unit)

    return link


def open_conflicts(user: AbstractBaseUser) -> WorkTable:
    rows = stewardship.restrict(user, Conflict.objects.filter(status="open"), "view")
    return _table("conflicts", _owner_counts(rows), _worklist_link("masterdata.Conflict"))


def open_duplicates(user: AbstractBaseUser) -> WorkTable:
    rows = stewardship.restrict(user, DuplicateSuspect.objects.filter(status="open"), "view")
    return _table("duplicate suspects", _owner_counts(rows), _worklist_link("masterdata.DuplicateSuspect"))


def _sees_every_failure(user: AbstractBaseUser) -> bool:
    """As the failure queue decides (``connectors.services.failures.may_see_all``)."""
    return any(
        user.has_perm(f"connectors.{perm}_syncfailure") for perm in ("view", "change")
    ) or access.has_global_scope(user, "resolve")


def open_failures(user: AbstractBaseUser) -> WorkTable:
    """Open sync failures by domain and the owning unit of their record (grouped per domain, in SQL)."""
    failure_model = _model("connectors.SyncFailure")
    if failure_model is None:
        return WorkTable("failed syncs", [], configured=False)
    everything = _sees_every_failure(user)
    if not (everything or access.has_any_grant(user, "resolve")):
        return WorkTable("failed syncs", [])
    granted = (
        None if everything else set(access.granted_unit_ids(user, "resolve").values_list("descendant_id", flat=True))
    )
    open_rows = failure_model.objects.filter(status="open")
    counts: dict[tuple[str, int | None], int] = {}
    for domain in registry:
        rows = open_rows.filter(domain=domain.name)
        if domain.org_field is None:
            if everything or access.has_domain_permission(user, domain, "change"):
                number = rows.count()
                if number:
                    counts[(domain.name, None)] = number
            continue
        if not (everything or access.has_domain_permission(user, domain, "change")):
            continue
        owner = (
            F("golden_id")
            if domain.org_field == "pk"
            else Subquery(
                domain.model_class._base_manager.filter(pk=OuterRef("golden_id")).values(domain.org_field)[:1]
            )
        )
        for row in rows.annotate(unit=owner).values("unit").annotate(n=Count("id")).order_by():
            if granted is None or row["unit"] in granted:
                counts[(domain.name, row["unit"])] = row["n"]

    def link(domain: str | None, unit: int | None) -> str | None:
        return admin_list("connectors.SyncFailure", status__exact="open", domain__exact=domain, owner_org=unit)

    return _table("failed syncs", counts, link)


# --- push backlog and dead letters per target --------------------------------------------------------
@dataclass
class TargetRow:
    target_id: int
    label: str
    paused: bool
    paused_reason: str
    backlog: Figure
    dead_letters: Figure


def push_targets(user: AbstractBaseUser) -> list[TargetRow] | None:
    """Pending deliveries and open dead letters per push target (None: push is not installed)."""
    target_model, delivery_model = _model("connectors.PushTarget"), _model("connectors.Delivery")
    failure_model = _model("connectors.SyncFailure")
    if target_model is None or delivery_model is None or failure_model is None:
        return None
    pending = dict(
        delivery_model.objects.filter(status="pending")
        .values("target")
        .annotate(n=Count("id"))
        .values_list("target", "n")
    )
    dead = dict(
        failure_model.objects.filter(status="open", push_target__isnull=False)
        .values("push_target")
        .annotate(n=Count("id"))
        .values_list("push_target", "n")
    )
    rows = []
    for target in target_model.objects.select_related("source").order_by("source__code", "domain"):
        rows.append(
            TargetRow(
                target.pk,
                str(target),
                target.paused,
                target.paused_reason,
                Figure(
                    pending.get(target.pk, 0),
                    admin_list("connectors.Delivery", target__id__exact=target.pk, status__exact="pending"),
                ),
                Figure(
                    dead.get(target.pk, 0),
                    admin_list("connectors.SyncFailure", status__exact="open", push_target__id__exact=target.pk),
                ),
            )
        )
    return rows


def may_see_push(user: AbstractBaseUser) -> bool:
    return bool(user.is_active and (user.has_perm("connectors.view_pushtarget") or _sees_every_failure(user)))


# --- data quality per domain -------------------------------------------------------------------------
@dataclass
class QualityRow:
    domain: str
    score: Figure
    records: int
    open_issues: Figure


def scores_url(domain: str) -> str | None:
    """The scores of a domain's records if the admin lists them, else the issues that lower them."""
    return admin_list("masterdata.QualityScore", domain__exact=domain) or admin_list(
        "masterdata.QualityIssue", domain__exact=domain
    )


def quality(user: AbstractBaseUser) -> list[QualityRow] | None:
    """Mean record score per domain within the user's scope (None: no quality scores in this installation)."""
    score_model = _model("masterdata.QualityScore")
    if score_model is None:
        return None
    rows = stewardship.restrict(user, score_model.objects.all(), "view")
    figures = rows.values("domain").annotate(score=Avg("score"), records=Count("id"), issues=Sum("open_issues"))
    order = [d.name for d in registry]
    result = []
    for row in sorted(figures.order_by(), key=lambda r: order.index(r["domain"]) if r["domain"] in order else 99):
        result.append(
            QualityRow(
                row["domain"],
                Figure(round(row["score"], 1), scores_url(row["domain"])),
                row["records"],
                Figure(row["issues"] or 0, admin_list("masterdata.QualityIssue", domain__exact=row["domain"])),
            )
        )
    return result


# --- everything the page shows -----------------------------------------------------------------------
@dataclass
class Dashboard:
    sync_runs: list[SourceSeries] | None
    show_sync_runs: bool
    work: list[WorkTable]
    push: list[TargetRow] | None
    show_push: bool
    quality: list[QualityRow] | None
    domain_labels: dict[str, str]


def build(user: AbstractBaseUser) -> Dashboard:
    """The figures ``user`` may see; sections they may not see are left out, not emptied."""
    show_runs, show_push = may_see_sync_runs(user), may_see_push(user)
    work = [open_conflicts(user), open_failures(user), open_duplicates(user)]
    return Dashboard(
        sync_runs=sync_runs(user) if show_runs else None,
        show_sync_runs=show_runs,
        work=work,
        push=push_targets(user) if show_push else None,
        show_push=show_push,
        quality=quality(user),
        domain_labels={d.name: d.verbose_name for d in registry},
    )
