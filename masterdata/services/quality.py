"""Data quality: apply a domain's rules to golden records, keep their issues and scores, summarise.

Rules (:class:`~masterdata.models.QualityRule`) run in two places:

* **in the sync pipeline** (:class:`IngestGate`, called by :mod:`.ingest` before writing): a
  *blocking* rule refuses what a source sends — the record fails with stage ``validate`` and the
  rule's message and lands in the failure queue; a *warning* rule lets it through and records an
  issue in the same transaction. A blocking rule refuses only values the source supplies: a field
  the source leaves untouched is recorded as an issue instead, so a rule added today does not stop
  every source from updating yesterday's records.
* **over existing records on demand** (:func:`check_existing`: ``manage.py check_quality``, the
  Celery task ``masterdata.tasks.check_quality``), e.g. after a rule was added or changed.

Each record's score is the share of its domain's rule weight it satisfies (0–100; 100 with no
rules). Bulk by default: reference and uniqueness rules make one query per rule and batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import Avg, Count, Max, Q
from django.db.models.functions import Lower
from django.utils import timezone

from masterdata.models import GoldenRecord, GoldenStatus, QualityIssue, QualityRule, QualityScore, RuleKind, Severity
from masterdata.registry import Domain, registry
from masterdata.services import access, stewardship
from masterdata.services import quality_checks as checks
from masterdata.services.quality_checks import rule_errors

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

__all__ = [
    "Evaluation",
    "IngestGate",
    "Violation",
    "active_rules",
    "check_existing",
    "evaluate",
    "record_results",
    "rule_errors",
    "scores_for",
    "summary",
]

logger = logging.getLogger(__name__)

CHUNK = 1000
MASK = "••••"
VALUE_LENGTH = QualityIssue._meta.get_field("value").max_length
MESSAGE_LENGTH = QualityIssue._meta.get_field("message").max_length


@dataclass(frozen=True)
class Violation:
    rule: QualityRule
    value: Any
    message: str

    @property
    def field(self) -> str:
        return self.rule.field


@dataclass
class Evaluation:
    """What the rules found on one record."""

    record: GoldenRecord
    violations: list[Violation] = field(default_factory=list)
    score: int = 100


def active_rules(domain: Domain | str) -> list[QualityRule]:
    """The domain's active rules that can be applied.

    A rule saved through the admin always can; one that names a field the model no longer has
    (or was written around the admin) is skipped with a warning rather than stopping every sync.
    """
    name = domain if isinstance(domain, str) else domain.name
    rules = []
    for rule in QualityRule.objects.filter(domain=name, active=True).order_by("id"):
        errors = rule_errors(rule.domain, rule.field, rule.kind, rule.params)
        if errors:
            logger.warning("quality rule %s (%s) is skipped: %s", rule.pk, rule, errors)
            continue
        rules.append(rule)
    return rules


def _domain(domain: Domain | str) -> Domain:
    return registry.get(domain) if isinstance(domain, str) else domain


# --- evaluation ------------------------------------------------------------------------------------
def evaluate(
    domain: Domain | str,
    records: Sequence[GoldenRecord],
    *,
    rules: list[QualityRule] | None = None,
    pending: Mapping[int, Mapping[str, str]] | None = None,
) -> list[Evaluation]:
    """Apply the domain's active rules to ``records`` (saved or about to be): one evaluation per record.

    ``pending``: position in ``records`` → foreign-key attname → code of a record the same batch
    creates (it exists as far as the rules are concerned).
    """
    domain = _domain(domain)
    rules = active_rules(domain) if rules is None else rules
    pending = pending or {}
    results = [Evaluation(record) for record in records]
    for rule in rules:
        if rule.kind == RuleKind.REFERENCE:
            found = _references(rule, records)
        elif rule.kind == RuleKind.UNIQUE:
            found = _duplicates(domain, rule, records)
        else:
            found = _value_problems(rule, records, pending)
        for position, message in found.items():
            value = _value(records[position], rule.field, pending.get(position))
            results[position].violations.append(Violation(rule, value, rule.description or message))
    total = sum(rule.weight for rule in rules)
    for result in results:
        broken = sum(rule.weight for rule in {v.rule.pk: v.rule for v in result.violations}.values())
        result.score = 100 if not total else round(100 * (total - broken) / total)
    return results


def _value(record: GoldenRecord, name: str, pending: Mapping[str, str] | None = None) -> Any:
    """A rule's field on a record: a foreign key as its id (or the code of a record being created)."""
    if name.startswith(checks.ATTRIBUTES_PREFIX):
        return (record.attributes or {}).get(name[len(checks.ATTRIBUTES_PREFIX) :])
    f = record._meta.get_field(name)
    value = getattr(record, f.attname)
    if value is None and pending and f.attname in pending:
        return pending[f.attname]
    return value


def _value_problems(
    rule: QualityRule, records: Sequence[GoldenRecord], pending: Mapping[int, Mapping[str, str]]
) -> dict[int, str]:
    params = rule.params or {}
    country_field = params.get("country_field", checks.DEFAULT_COUNTRY_FIELD)
    problems = {}
    for position, record in enumerate(records):
        value = _value(record, rule.field, pending.get(position))
        if rule.kind == RuleKind.REQUIRED:
            problem = "A value is required." if checks.is_empty(value) else None
        elif checks.is_empty(value):
            continue  # format rules judge values, "required" judges their absence
        elif rule.kind == RuleKind.EMAIL:
            problem = checks.email_problem(value)
        elif rule.kind in (RuleKind.PHONE, RuleKind.TAX_ID):
            country = params.get("country") or getattr(record, country_field, None) or None
            if rule.kind == RuleKind.PHONE:
                problem = checks.phone_problem(value, country)
            else:
                problem = checks.tax_id_problem(value, country, params.get("scheme"))
        elif rule.kind == RuleKind.REGEX:
            problem = checks.regex_problem(value, params.get("pattern", ""))
        else:
            problem = checks.range_problem(value, params.get("min"), params.get("max"))
        if problem:
            problems[position] = problem
    return problems


def _references(rule: QualityRule, records: Sequence[GoldenRecord]) -> dict[int, str]:
    """The referenced record must exist (and be active unless ``active`` is false): one query per batch.

    A foreign key to a record the same batch creates is empty until written: nothing to check.
    """
    params = rule.params or {}
    f = checks.model_field(rule.domain, rule.field)
    is_fk = isinstance(f, models.ForeignKey)
    target = registry.for_model(f.related_model) if is_fk else registry.get(params["domain"])
    key = "pk" if is_fk else target.business_key
    wanted: dict[int, Any] = {}
    for position, record in enumerate(records):
        value = _value(record, rule.field)
        if checks.is_empty(value):
            continue  # empty, or a record this batch creates (active by definition)
        wanted[position] = value if is_fk else str(value)
    if not wanted:
        return {}
    found = {
        row[0] if is_fk else str(row[0]): row[1:]
        for row in target.model_class._base_manager.filter(**{f"{key}__in": set(wanted.values())}).values_list(
            key, "code", "status"
        )
    }
    label = target.verbose_name
    problems = {}
    for position, value in wanted.items():
        if value not in found:
            problems[position] = f"There is no {label} {value}."
        elif params.get("active", True) and found[value][1] != GoldenStatus.ACTIVE:
            code, status = found[value]
            problems[position] = f"The {label} {code} is {status}."
    return problems


def _duplicates(domain: Domain, rule: QualityRule, records: Sequence[GoldenRecord]) -> dict[int, str]:
    """No other live record holds the value: one query per batch.

    A record already saved is a duplicate when any other record holds its value; among records
    a batch creates, the first claimant keeps the value.
    """
    ignore_case = bool((rule.params or {}).get("ignore_case"))
    norm = (lambda v: str(v).lower()) if ignore_case else (lambda v: v)
    values: dict[int, Any] = {}
    for position, record in enumerate(records):
        value = _value(record, rule.field)
        if not checks.is_empty(value):
            values[position] = value
    if not values:
        return {}
    in_batch = {record.pk for record in records if record.pk is not None}
    holders: dict[Any, set[Any]] = defaultdict(set)
    for pk, value in _holders(domain, rule.field, set(values.values()), ignore_case):
        if pk not in in_batch:
            holders[norm(value)].add(pk)
    claimants: dict[Any, list[int]] = defaultdict(list)
    for position, value in values.items():
        claimants[norm(value)].append(position)
    problems = {}
    for value, positions in claimants.items():
        for position in positions:
            saved = records[position].pk is not None
            rivals = [
                other
                for other in positions
                if other != position and (saved or records[other].pk is not None or other < position)
            ]
            if holders.get(value) or rivals:
                problems[position] = f"Another {domain.verbose_name} has the same {rule.field}."
    return problems


def _holders(domain: Domain, name: str, values: set[Any], ignore_case: bool) -> list[tuple[Any, Any]]:
    """(id, value) of live records holding one of ``values`` in field ``name``."""
    queryset = domain.model_class._base_manager.exclude(status=GoldenStatus.MERGED)
    if name.startswith(checks.ATTRIBUTES_PREFIX):
        lookup = f"attributes__{name[len(checks.ATTRIBUTES_PREFIX) :]}"
    else:
        lookup = domain.model_class._meta.get_field(name).attname
    if ignore_case:
        queryset = queryset.annotate(_folded=Lower(lookup)).filter(_folded__in={str(v).lower() for v in values})
    else:
        queryset = queryset.filter(**{f"{lookup}__in": list(values)})
    return list(queryset.values_list("pk", lookup))


# --- issues and scores -------------------------------------------------------------------------------
def record_results(
    domain: Domain | str,
    evaluations: Iterable[Evaluation],
    *,
    now: datetime | None = None,
    created: Collection[int] = (),
) -> None:
    """Make the open issues and the scores of saved records match their evaluations, in bulk.

    A new violation opens an issue, one that is gone resolves it (also when its rule was
    deactivated), and the score is replaced: a fixed number of queries per call. ``created``:
    ids of records created in this very transaction, which cannot have issues yet (not read).
    """
    domain = _domain(domain)
    evaluations = [e for e in evaluations if e.record.pk is not None]
    if not evaluations:
        return
    now = now or timezone.now()
    known = [e.record.pk for e in evaluations if e.record.pk not in created]
    issues = QualityIssue.objects.filter(domain=domain.name, golden_id__in=known, resolved_at__isnull=True)
    open_issues = {(issue.golden_id, issue.rule_id): issue for issue in issues} if known else {}
    sensitive = set(domain.sensitive_fields)
    new, changed, current, scores = [], [], set(), []
    for evaluation in evaluations:
        pk, owner = evaluation.record.pk, access.org_unit_of(domain, evaluation.record)
        for violation in evaluation.violations:
            key = (pk, violation.rule.pk)
            current.add(key)
            value = _shown(violation.value, violation.field in sensitive)
            message = violation.message[:MESSAGE_LENGTH]
            issue = open_issues.get(key)
            if issue is None:
                new.append(
                    QualityIssue(
                        domain=domain.name, golden_id=pk, rule=violation.rule, field=violation.field, value=value,
                        message=message, detected_at=now, owner_org_id=owner,
                    )
                )  # fmt: skip
            elif (issue.value, issue.message, issue.owner_org_id) != (value, message, owner):
                issue.value, issue.message, issue.owner_org_id = value, message, owner
                changed.append(issue)
        scores.append(
            QualityScore(
                domain=domain.name, golden_id=pk, score=evaluation.score, open_issues=len(evaluation.violations),
                checked_at=now, owner_org_id=owner,
            )
        )  # fmt: skip
    QualityIssue.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent check may have opened it
    if changed:
        QualityIssue.objects.bulk_update(changed, ["value", "message", "owner_org"])
    gone = [issue.pk for key, issue in open_issues.items() if key not in current]
    if gone:
        QualityIssue.objects.filter(pk__in=gone).update(resolved_at=now)
    QualityScore.objects.bulk_create(
        scores,
        update_conflicts=True,
        unique_fields=["domain", "golden_id"],
        update_fields=["score", "open_issues", "checked_at", "owner_org"],
    )


def _shown(value: Any, sensitive: bool) -> str:
    """An issue's value as stewards may see it: a sensitive value only by its last characters."""
    if value is None:
        return ""
    text = str(value)
    if sensitive:
        return MASK + text[-2:] if len(text) > 6 else MASK
    return text[:VALUE_LENGTH]


def check_existing(domain: str | None = None, *, chunk: int = CHUNK) -> dict[str, dict[str, int]]:
    """Apply the active rules to every live record of ``domain`` (all domains when None).

    Returns per domain the records checked and the rules they break. Records merged away since
    the last check lose their score and their issues close.
    """
    domains = [registry.get(domain)] if domain else list(registry)
    return {d.name: _check_domain(d, chunk) for d in domains}


def _check_domain(domain: Domain, chunk: int) -> dict[str, int]:
    rules = active_rules(domain)
    live = domain.model_class._base_manager.exclude(status=GoldenStatus.MERGED)
    now = timezone.now()
    checked = broken = last = 0
    while True:
        records = list(live.filter(pk__gt=last).order_by("pk")[:chunk])
        if not records:
            break
        with transaction.atomic():
            evaluations = evaluate(domain, records, rules=rules)
            record_results(domain, evaluations, now=now)
        checked += len(records)
        broken += sum(len(e.violations) for e in evaluations)
        last = records[-1].pk
    with transaction.atomic():
        QualityIssue.objects.filter(domain=domain.name, resolved_at__isnull=True).exclude(
            golden_id__in=live.values("pk")
        ).update(resolved_at=now)
        QualityScore.objects.filter(domain=domain.name).exclude(golden_id__in=live.values("pk")).delete()
    return {"records": checked, "issues": broken}


# --- the sync pipeline ---------------------------------------------------------------------------------
class IngestGate:
    """The quality rules of one ingest batch: blocking rules refuse, the rest is recorded after the write.

    :mod:`masterdata.services.ingest` calls :meth:`check` on the records it is about to write and
    :meth:`record` on those it wrote, in the batch's transaction. Targets are the ingest's
    (``record``, ``is_new``, ``changed``, ``pending``, ``failed``, ``fail``).
    """

    def __init__(self, domain: Domain, rules: list[QualityRule] | None = None) -> None:
        """``rules``: the active rules to apply, as read earlier (:func:`active_rules` when None)."""
        self.domain = domain
        self.rules = active_rules(domain) if rules is None else rules
        self.passed: dict[int, Evaluation] = {}

    def check(self, targets: Sequence[Any]) -> None:
        """Fail each target a blocking rule refuses: stage ``validate``, field → the rule's message."""
        if not self.rules or not targets:
            return
        pending = {position: t.pending for position, t in enumerate(targets) if t.pending}
        evaluations = evaluate(self.domain, [t.record for t in targets], rules=self.rules, pending=pending)
        for target, evaluation in zip(targets, evaluations, strict=True):
            refused: dict[str, list[str]] = {}
            for violation in evaluation.violations:
                supplied = target.is_new or violation.field.split(".")[0] in target.changed
                if violation.rule.severity == Severity.BLOCKING and supplied:
                    refused.setdefault(violation.field, []).append(violation.message)
            if refused:
                target.fail("validate", refused)
            else:
                self.passed[id(target)] = evaluation

    def record(self, targets: Sequence[Any]) -> None:
        """Issues and scores of the records the batch wrote (those it created have no open issue to read)."""
        written = [t for t in targets if not t.failed and id(t) in self.passed]
        created = {t.record.pk for t in written if t.is_new}
        record_results(self.domain, [self.passed[id(t)] for t in written], created=created)


# --- for stewards ----------------------------------------------------------------------------------------
def scores_for(domain: Domain | str, golden_ids: Iterable[int]) -> dict[int, int]:
    """Golden id → score of the records that have been checked."""
    name = _domain(domain).name
    rows = QualityScore.objects.filter(domain=name, golden_id__in=list(golden_ids)).values_list("golden_id", "score")
    return dict(rows)


def summary(user: AbstractBaseUser | None = None, *, worst: int = 10) -> dict[str, Any]:
    """Scores per domain and the rules broken most often, within ``user``'s scope (everything when None).

    ``{"domains": [{"domain", "label", "rules", "records", "average_score", "records_with_issues",
    "open_issues", "checked_at"}], "worst_rules": [{"rule_id", "domain", "field", "kind", "severity",
    "description", "open_issues"}]}`` — ``average_score`` is None for a domain never checked.
    """
    scores = QualityScore.objects.all()
    issues = QualityIssue.objects.filter(resolved_at__isnull=True)
    domains = list(registry)
    if user is not None:
        scores, issues = stewardship.restrict(user, scores), stewardship.restrict(user, issues)
        visible = set(stewardship.visible_domains(user))
        domains = [d for d in domains if d.name in visible]
    per_domain = {
        row["domain"]: row
        for row in scores.values("domain").annotate(
            records=Count("id"),
            average=Avg("score"),
            with_issues=Count("id", filter=Q(open_issues__gt=0)),
            checked_at=Max("checked_at"),
        )
    }
    open_counts = dict(issues.values("domain").annotate(n=Count("id")).values_list("domain", "n"))
    rule_counts = dict(
        QualityRule.objects.filter(active=True).values("domain").annotate(n=Count("id")).values_list("domain", "n")
    )
    worst_rows = list(issues.values("rule").annotate(n=Count("id")).order_by("-n", "rule")[:worst])
    rules = QualityRule.objects.in_bulk([row["rule"] for row in worst_rows])
    return {
        "domains": [
            {
                "domain": d.name,
                "label": d.verbose_name,
                "rules": rule_counts.get(d.name, 0),
                "records": per_domain.get(d.name, {}).get("records", 0),
                "average_score": _rounded(per_domain.get(d.name, {}).get("average")),
                "records_with_issues": per_domain.get(d.name, {}).get("with_issues", 0),
                "open_issues": open_counts.get(d.name, 0),
                "checked_at": per_domain.get(d.name, {}).get("checked_at"),
            }
            for d in domains
        ],
        "worst_rules": [
            {
                "rule_id": row["rule"],
                "domain": rules[row["rule"]].domain,
                "field": rules[row["rule"]].field,
                "kind": rules[row["rule"]].kind,
                "severity": rules[row["rule"]].severity,
                "description": rules[row["rule"]].description or str(rules[row["rule"]]),
                "open_issues": row["n"],
            }
            for row in worst_rows
        ],
    }


def _rounded(average: float | None) -> float | None:
    return None if average is None else round(float(average), 1)
