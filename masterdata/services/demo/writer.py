"""Writing the demo plan: golden records through the golden service, links and logins in bulk.

Idempotent: records and links are matched by their keys and written only where they differ
from the plan, so a second run writes nothing (no new rows, no history, no version bumps).
Golden records go through :mod:`masterdata.services.golden` like every other change, with
history reason "demo data", no user, and the system of record as the source.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

from masterdata.models import SourceDomain, SourceKind, SourceLink, SourceSystem, SyncDirection
from masterdata.registry import registry
from masterdata.services import access, golden

from . import catalog
from .plan import SEEN_AT, DemoPlan, RecordPlan

REASON = "demo data"
DOMAIN_ORDER = ("org_unit", "employee", "customer", "supplier", "material")

# code, name, kind, description, {domain: (direction, trust rank, field trust)}
SOURCES = (
    ("erp", "Group ERP", SourceKind.ERP, "S/4HANA-style ERP of all three companies (OData v4).", {
        "customer": (SyncDirection.BOTH, 80, {"credit_rating": 95, "credit_limit": 95}),
        "supplier": (SyncDirection.BOTH, 90, {}),
        "material": (SyncDirection.BOTH, 95, {}),
        "org_unit": (SyncDirection.PULL, 50, {}),
    }),
    ("crm", "Sales CRM", SourceKind.CRM, "Cloud CRM of the sales teams (REST/JSON).", {
        "customer": (SyncDirection.BOTH, 60, {"email": 85, "phone": 85}),
    }),
    ("hr", "HR system", SourceKind.HR, "Group HR suite, system of record for people and org (SCIM 2.0).", {
        "employee": (SyncDirection.PULL, 95, {}),
        "org_unit": (SyncDirection.PULL, 90, {}),
    }),
)
STEWARDS_GROUP = "Data stewards"
STEWARD_MODEL_PERMS = [
    *(f"{action}_{model}" for model in ("customer", "supplier", "material", "employee")
      for action in ("view", "add", "change")),
    "view_sourcesystem", "view_sourcedomain", "view_sourcelink",
]
INTEGRATION_USER = "erp-integration"
INTEGRATION_PERMS = [
    f"{action}_{model}" for model in ("customer", "supplier", "material") for action in ("view", "add", "change")
]


@dataclass
class Login:
    username: str
    role: str
    password: str | None  # None: the account existed, its password was left alone
    token: str | None = None


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    links_created: int = 0
    links_updated: int = 0
    logins: list[Login] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(sum(self.created.values()) + sum(self.updated.values()) + self.links_created + self.links_updated)


def write(plan: DemoPlan, admin_password: str | None = None, demo_password: str | None = None) -> SeedReport:
    report = SeedReport()
    with transaction.atomic():
        sources = _sources()
        ids = {d: _ids(d, [r.code for r in plan.records[d]]) for d in DOMAIN_ORDER}
        deferred: list[tuple[RecordPlan, dict[str, tuple[str, str]]]] = []
        created_now: set[tuple[str, str]] = set()
        for domain in DOMAIN_ORDER:
            created = updated = 0
            model = registry.get(domain).model_class
            existing = {r.code: r for r in model.objects.filter(code__in=[p.code for p in plan.records[domain]])}
            for record_plan in plan.records[domain]:
                values, missing = _resolve(record_plan, ids)
                if missing:
                    deferred.append((record_plan, missing))
                ctx = golden.ChangeContext(source=sources[record_plan.source], reason=REASON, rule="demo")
                current = existing.get(record_plan.code)
                if current is None:
                    record = golden.create(model, {"code": record_plan.code, **values}, ctx)
                    ids[domain][record.code] = record.pk
                    created_now.add((domain, record.code))
                    created += 1
                elif _differs(current, values):
                    golden.update(current, values, ctx)  # re-reads the row under a lock
                    updated += 1
            report.created[domain], report.updated[domain] = created, updated
        for record_plan, missing in deferred:  # references to records written after their holder
            model = registry.get(record_plan.domain).model_class
            current = model.objects.get(code=record_plan.code)
            values = {f"{name}_id": ids[dom][code] for name, (dom, code) in missing.items()}
            ctx = golden.ChangeContext(source=sources[record_plan.source], reason=REASON, rule="demo")
            if _differs(current, values):
                golden.update(current, values, ctx)
                if (record_plan.domain, record_plan.code) not in created_now:  # completing a new one: no update
                    report.updated[record_plan.domain] += 1
        report.links_created, report.links_updated = _links(plan, sources, ids)
        report.logins = _logins(admin_password, demo_password)
    return report


def _ids(domain: str, codes: list[str]) -> dict[str, int]:
    model = registry.get(domain).model_class
    return dict(model.objects.filter(code__in=codes).values_list("code", "pk"))


def _resolve(record_plan: RecordPlan, ids: dict[str, dict[str, int]]) -> tuple[dict[str, Any], dict]:
    """Plan values with references turned into ids; references not written yet come back apart."""
    values = dict(record_plan.values)
    missing = {}
    for name, (domain, code) in record_plan.refs.items():
        pk = ids[domain].get(code)
        if pk is None:
            missing[name] = (domain, code)
        else:
            values[f"{name}_id"] = pk
    return values, missing


def _differs(record, values: dict[str, Any]) -> bool:
    """Would applying ``values`` change ``record``? (Compared as the model stores them.)"""
    for name, value in values.items():
        setattr(record, name, value)
    return bool(record.changed_fields())


def _sources() -> dict[str, SourceSystem]:
    systems = {}
    for code, name, kind, description, domains in SOURCES:
        system, _ = SourceSystem.objects.get_or_create(
            code=code, defaults={"name": name, "kind": kind, "description": description}
        )
        systems[code] = system
        existing = {d.domain: d for d in system.domains.all()}
        for domain, (direction, rank, field_trust) in domains.items():
            wanted = {"direction": direction, "trust_rank": rank, "field_trust": field_trust}
            current = existing.get(domain)
            if current is None:
                SourceDomain.objects.create(source=system, domain=domain, **wanted)
            elif any(getattr(current, k) != v for k, v in wanted.items()):
                for k, v in wanted.items():
                    setattr(current, k, v)
                current.save()
    return systems


def _links(plan: DemoPlan, sources: dict[str, SourceSystem], ids: dict[str, dict[str, int]]) -> tuple[int, int]:
    """Create or correct the cross-references; payload hashes and pushed versions follow the plan."""
    two_way = set(
        SourceDomain.objects.filter(source__in=sources.values(), direction=SyncDirection.BOTH).values_list(
            "source__code", "domain"
        )
    )
    versions = {
        d: dict(registry.get(d).model_class.objects.filter(code__in=ids[d]).values_list("pk", "version"))
        for d in DOMAIN_ORDER
    }
    existing = {
        (link.source_id, link.domain, link.source_key): link
        for link in SourceLink.objects.filter(source__in=sources.values())
    }
    to_create, to_update = [], []
    fields = ("golden_id", "status", "last_payload", "payload_hash", "last_seen_at", "last_pushed_version")
    for domain in DOMAIN_ORDER:
        for n, record_plan in enumerate(plan.records[domain]):
            golden_id = ids[domain][record_plan.code]
            for link_plan in record_plan.links:
                source = sources[link_plan.source]
                wanted = {
                    "golden_id": golden_id,
                    "status": "active",
                    "last_payload": link_plan.payload,
                    "payload_hash": SourceLink.hash_payload(link_plan.payload),
                    "last_seen_at": SEEN_AT - timedelta(minutes=(n * 37) % 4320),
                    "last_pushed_version": versions[domain][golden_id] if (source.code, domain) in two_way else None,
                }
                current = existing.get((source.pk, domain, link_plan.key))
                if current is None:
                    to_create.append(SourceLink(source=source, domain=domain, source_key=link_plan.key, **wanted))
                elif any(getattr(current, k) != wanted[k] for k in ("golden_id", "status", "payload_hash")) or any(
                    getattr(current, k) != wanted[k] for k in ("last_seen_at", "last_pushed_version")
                ):
                    for k, v in wanted.items():
                        setattr(current, k, v)
                    to_update.append(current)
    SourceLink.objects.bulk_create(to_create, batch_size=500)
    SourceLink.objects.bulk_update(to_update, fields, batch_size=500)
    return len(to_create), len(to_update)


def _logins(admin_password: str | None, demo_password: str | None) -> list[Login]:
    """The admin, one steward per company (scoped to it) and the ERP's integration account."""
    user_model = get_user_model()
    logins = []
    admin = user_model.objects.filter(username="admin").first()
    if admin is None:
        password = admin_password or new_password()
        user_model.objects.create_superuser("admin", f"admin@{catalog.EMAIL_DOMAIN}", password)
        logins.append(Login("admin", "superuser", password))
    else:
        logins.append(Login("admin", "superuser", None))

    company_codes = [c.code for c in catalog.COMPANIES]
    stewards, _ = Group.objects.get_or_create(name=STEWARDS_GROUP)
    wanted = set(Permission.objects.filter(codename__in=STEWARD_MODEL_PERMS).values_list("pk", flat=True))
    if set(stewards.permissions.values_list("pk", flat=True)) != wanted:
        stewards.permissions.set(wanted)
    org_unit_model = registry.get("org_unit").model_class
    units = {u.code: u for u in org_unit_model.objects.filter(code__in=[catalog.GROUP_CODE, *company_codes])}
    for company in catalog.COMPANIES:
        username = f"steward_{company.country.lower()}"
        user = user_model.objects.filter(username=username).first()
        password = None
        if user is None:
            password = demo_password or new_password()
            user = user_model.objects.create_user(
                username, f"{username.replace('_', '.')}@{catalog.EMAIL_DOMAIN}", password, is_staff=True
            )
            user.groups.add(stewards)
        _grant_once(user, units[company.code])
        logins.append(Login(username, f"steward of {company.code} · {company.name}", password))

    integration = user_model.objects.filter(username=INTEGRATION_USER).first()
    token = None
    if integration is None:
        integration = user_model.objects.create_user(INTEGRATION_USER, email="", password=None)
        integration.user_permissions.set(Permission.objects.filter(codename__in=INTEGRATION_PERMS))
        token = Token.objects.create(user=integration).key
    _grant_once(integration, units[catalog.GROUP_CODE])  # the group ERP serves every company
    logins.append(Login(INTEGRATION_USER, "API system account (token only)", None, token))
    return logins


def new_password() -> str:
    """16 letters and digits: strong, and safe to paste into a shell or a login form."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))


def _grant_once(user, unit) -> None:
    """View and change on ``unit``'s subtree, without touching grants that already exist."""
    granted = {(action, granted_unit.pk) for action, granted_unit in access.grants_of(user)}
    for action in ("view", "change"):
        if (action, unit.pk) not in granted:
            access.grant(user, action, unit)
