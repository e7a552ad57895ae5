"""The steward dashboard's figures: sync runs over time, open work by domain and org unit, push, quality.

Every figure is counted within the user's scope, with grouped queries (one per figure, never
one per row), and carries the filtered admin list behind it so a number is always one click
from the rows it counts.

Connectors depend on masterdata, never the reverse: sync runs, failures, deliveries and push
targets are looked up by name (``apps.get_model``), and a section whose models are not
installed says "not configured" instead of failing. Open work is rolled up to companies (the
org unit type stewards think in; a company inside another counts with the outer one); rows owned
above any company, or by no unit (materials, failures of records the hub does not know yet),
count as "Group level".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.apps import apps
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from masterdata.models import Conflict, DuplicateSuspect, OrgUnit, OrgUnitClosure, OrgUnitType, RuleKind, Severity
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
    shown: bool = True
    """False when the user may act on none of these rows: the section is left out, not shown empty."""


def _companies() -> dict[int, OrgUnit]:
    """The companies to roll up to: those not inside another company (a holding's subsidiaries count once)."""
    nested = OrgUnitClosure.objects.filter(
        depth__gt=0, ancestor__unit_type=OrgUnitType.COMPANY, descendant__unit_type=OrgUnitType.COMPANY
    ).values("descendant")
    companies = OrgUnit.objects.filter(unit_type=OrgUnitType.COMPANY).exclude(pk__in=nested)
    return {unit.pk: unit for unit in companies.only("id", "code", "name")}


def _by_company(rows_sql: str, params: list[Any], companies: dict[int, OrgUnit]) -> dict[tuple[str, int | None], int]:
    """Count ``rows_sql`` (columns ``domain`` and ``unit``) per domain and company, in one grouped query.

    Written as SQL because the rows are joined to the org-unit closure by their owning unit, which
    no foreign key names; the database does in one hash join what Python would do row by row.
    """
    quote = connection.ops.quote_name
    closure = OrgUnitClosure._meta
    ancestor, descendant = (quote(closure.get_field(name).column) for name in ("ancestor", "descendant"))
    marks = ", ".join(["%s"] * len(companies)) or "NULL"
    sql = (
        f"SELECT w.domain, c.{ancestor}, COUNT(*) FROM ({rows_sql}) w "
        f"LEFT JOIN {quote(closure.db_table)} c ON c.{descendant} = w.unit AND c.{ancestor} IN ({marks}) "
        f"GROUP BY w.domain, c.{ancestor}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *companies])
        return {(domain, company): number for domain, company, number in cursor.fetchall()}


def _table(kind: str, counts: dict[tuple[str, int | None], int], companies: dict[int, OrgUnit], link) -> WorkTable:
    """``(domain, company) → count`` as a table; ``link(domain, company)`` gives the list behind a number."""
    rolled: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (domain, company), number in counts.items():
        rolled[company][domain] += number
    order = [d.name for d in registry]
    domains = sorted({domain for domain, _ in counts}, key=lambda d: order.index(d) if d in order else len(order))
    table = WorkTable(kind, domains)
    for key in sorted(rolled, key=lambda k: ("~" if k is None else companies[k].code)):
        label = str(companies[key]) if key is not None else GROUP_LEVEL
        cells = {d: Figure(rolled[key][d], link(d, key)) for d in domains if rolled[key][d]}
        table.rows.append((label, cells, Figure(sum(rolled[key].values()), link(None, key))))
    for domain in domains:
        table.by_domain[domain] = Figure(sum(row[domain] for row in rolled.values()), link(domain, None))
    table.total = Figure(sum(f.value for f in table.by_domain.values()), link(None, None))
    return table


def _sql(queryset: QuerySet) -> tuple[str, list[Any]] | None:
    """A queryset's SQL and parameters; None when it can match nothing (Django then writes no SQL)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    return sql, list(params)


def _worklist_link(model_label: str):
    def link(domain: str | None, unit: int | None) -> str | None:
        return admin_list(model_label, status="open", domain__exact=domain, owner_org=unit)

    return link


def _worklist(user: AbstractBaseUser, kind: str, model, label: str, companies: dict[int, OrgUnit]) -> WorkTable:
    if not stewardship.visible_domains(user):
        return WorkTable(kind, [], shown=False)
    rows = stewardship.restrict(user, model.objects.filter(status="open"), "view")
    compiled = _sql(rows.order_by().values("domain", unit=F("owner_org")))
    counts = _by_company(*compiled, companies) if compiled else {}
    return _table(kind, counts, companies, _worklist_link(label))


def open_conflicts(user: AbstractBaseUser, companies: dict[int, OrgUnit] | None = None) -> WorkTable:
    return _worklist(
        user, "conflicts", Conflict, "masterdata.Conflict", _companies() if companies is None else companies
    )


def open_duplicates(user: AbstractBaseUser, companies: dict[int, OrgUnit] | None = None) -> WorkTable:
    companies = _companies() if companies is None else companies
    return _worklist(user, "duplicate suspects", DuplicateSuspect, "masterdata.DuplicateSuspect", companies)


def _sees_every_failure(user: AbstractBaseUser) -> bool:
    """As the failure queue decides (``connectors.services.failures.may_see_all``)."""
    return any(
        user.has_perm(f"connectors.{perm}_syncfailure") for perm in ("view", "change")
    ) or access.has_global_scope(user, "resolve")


def _failure_rows(user: AbstractBaseUser, failure_model, everything: bool) -> tuple[str, list[Any]]:
    """SQL of the open failures the user may see, with the org unit each one carries (``owner_org``).

    Scoped as the failure queue scopes them (:func:`stewardship.restrict` on the resolve grant),
    so every number is the length of the list it links to.
    """
    rows = failure_model.objects.filter(status="open", domain__in=[d.name for d in registry])
    if not everything:
        rows = stewardship.restrict(user, rows, "resolve")
    compiled = _sql(rows.order_by().values("domain", unit=F("owner_org")))
    return compiled if compiled is not None else ("", [])


def open_failures(user: AbstractBaseUser, companies: dict[int, OrgUnit] | None = None) -> WorkTable:
    """Open sync failures by domain and the company owning their record."""
    failure_model = _model("connectors.SyncFailure")
    if failure_model is None:
        return WorkTable("failed syncs", [], configured=False)
    everything = _sees_every_failure(user)
    if not (everything or access.has_any_grant(user, "resolve")):
        return WorkTable("failed syncs", [], shown=False)
    rows_sql, params = _failure_rows(user, failure_model, everything)
    if not rows_sql:
        return WorkTable("failed syncs", [])
    companies = _companies() if companies is None else companies

    def link(domain: str | None, unit: int | None) -> str | None:
        return admin_list("connectors.SyncFailure", status__exact="open", domain__exact=domain, owner_org=unit)

    return _table("failed syncs", _by_company(rows_sql, params, companies), companies, link)


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
#: Score bands the records of a domain are counted in: (label, lowest, highest score), worst first.
SCORE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0–49", 0, 49),
    ("50–79", 50, 79),
    ("80–99", 80, 99),
    ("100", 100, 100),
)
#: Rules listed per domain, those with most open issues first.
WORST_RULES = 5


@dataclass
class RuleRow:
    """A rule and the records breaking it (one open issue per rule and record), linked to those issues."""

    rule_id: int
    field: str
    kind: str
    severity: str
    description: str
    open_issues: Figure


@dataclass
class QualityRow:
    domain: str
    score: Figure
    records: int
    open_issues: Figure
    bands: list[Figure] = field(default_factory=list)
    """Records per :data:`SCORE_BANDS` band."""
    worst_rules: list[RuleRow] = field(default_factory=list)


def scores_url(domain: str) -> str | None:
    """The scores of a domain's records if the admin lists them, else the issues that lower them."""
    return admin_list("masterdata.QualityScore", domain__exact=domain) or admin_list(
        "masterdata.QualityIssue", domain__exact=domain
    )


def _band_url(domain: str, lowest: int, highest: int) -> str | None:
    return admin_list("masterdata.QualityScore", domain__exact=domain, score__gte=lowest, score__lte=highest)


def _label(choices, value: str) -> str:
    """A choice's label without its explanation ("Blocking (a source's record is refused)" → "Blocking")."""
    try:
        return str(choices(value).label).split(" (")[0]
    except ValueError:
        return value


def worst_rules(user: AbstractBaseUser, per_domain: int = WORST_RULES) -> dict[str, list[RuleRow]]:
    """Domain → the rules with most open issues within the user's scope, in one grouped query.

    Scoped as the issue list is (:func:`stewardship.restrict` on view), so each number is the
    length of the list it links to. The query returns one row per rule broken, never per record.
    """
    issue_model = _model("masterdata.QualityIssue")
    if issue_model is None:
        return {}
    issues = stewardship.restrict(user, issue_model.objects.filter(resolved_at__isnull=True), "view")
    rows = (
        issues.values("domain", "rule", "rule__field", "rule__kind", "rule__severity", "rule__description")
        .annotate(n=Count("id"))
        .order_by("domain", "-n", "rule")
    )
    result: dict[str, list[RuleRow]] = defaultdict(list)
    for row in rows:
        if len(result[row["domain"]]) >= per_domain:
            continue
        result[row["domain"]].append(
            RuleRow(
                row["rule"],
                row["rule__field"],
                _label(RuleKind, row["rule__kind"]),
                _label(Severity, row["rule__severity"]).lower(),
                row["rule__description"],
                Figure(
                    row["n"],
                    admin_list("masterdata.QualityIssue", domain__exact=row["domain"], rule__id__exact=row["rule"]),
                ),
            )
        )
    return dict(result)


def quality(user: AbstractBaseUser) -> list[QualityRow] | None:
    """Mean score, records per score band and worst rules per domain within the user's scope.

    None: no quality scores in this installation. Two grouped queries, however many records and rules.
    """
    score_model = _model("masterdata.QualityScore")
    if score_model is None:
        return None
    rows = stewardship.restrict(user, score_model.objects.all(), "view")
    bands = {
        f"band_{index}": Count("id", filter=Q(score__gte=lowest, score__lte=highest))
        for index, (_, lowest, highest) in enumerate(SCORE_BANDS)
    }
    figures = rows.values("domain").annotate(mean=Avg("score"), records=Count("id"), issues=Sum("open_issues"), **bands)
    rules = worst_rules(user)
    order = [d.name for d in registry]
    result = []
    for row in sorted(figures.order_by(), key=lambda r: order.index(r["domain"]) if r["domain"] in order else 99):
        domain = row["domain"]
        result.append(
            QualityRow(
                domain,
                Figure(round(row["mean"], 1), scores_url(domain)),
                row["records"],
                Figure(row["issues"] or 0, admin_list("masterdata.QualityIssue", domain__exact=domain)),
                [
                    Figure(row[f"band_{index}"], _band_url(domain, lowest, highest) if row[f"band_{index}"] else None)
                    for index, (_, lowest, highest) in enumerate(SCORE_BANDS)
                ],
                rules.get(domain, []),
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
    companies = _companies()
    work = [open_conflicts(user, companies), open_failures(user, companies), open_duplicates(user, companies)]
    return Dashboard(
        sync_runs=sync_runs(user) if show_runs else None,
        show_sync_runs=show_runs,
        work=work,
        push=push_targets(user) if show_push else None,
        show_push=show_push,
        quality=quality(user),
        domain_labels={d.name: d.verbose_name for d in registry},
    )
