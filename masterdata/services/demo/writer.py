"""Writing the demo group's structure: the org tree through the golden service, and the logins.

Idempotent: org units are matched by code and written only where they differ from the plan, so
a second run writes nothing (no new rows, no history, no version bumps). They go through
:mod:`masterdata.services.golden` like every other change, with history reason "demo data", no
user, and the HR system as the source. Everything else — employees, customers, suppliers,
materials, the org units' managers and every source link — comes from the demo's source
systems through the pipeline (``connectors.services.demo``), as it would in production.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from masterdata.models import SourceKind, SourceSystem
from masterdata.registry import registry
from masterdata.services import access, golden, tokens

from . import catalog
from .plan import DemoPlan

REASON = "demo data"
#: The source the org tree is written as (the HR system, whose feed later links and completes it).
ORG_SOURCE = ("hr", "HR system", SourceKind.HR)
STEWARDS_GROUP = "Data stewards"
STEWARD_MODEL_PERMS = [
    *(
        f"{action}_{model}"
        for model in ("customer", "supplier", "material", "employee")
        for action in ("view", "add", "change")
    ),
    "view_sourcesystem",
    "view_sourcedomain",
    "view_sourcelink",
]
#: A demo steward sees, changes and resolves (conflicts, failed syncs, duplicates) their company's records.
STEWARD_ACTIONS = ("view", "change", "resolve")
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
    logins: list[Login] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(sum(self.created.values()) + sum(self.updated.values()))


def write(plan: DemoPlan, admin_password: str | None = None, demo_password: str | None = None) -> SeedReport:
    """The org tree of ``plan`` (without managers: they come with the HR feed) and the logins."""
    report = SeedReport()
    with transaction.atomic():
        code, name, kind = ORG_SOURCE
        source, _ = SourceSystem.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
        model = registry.get("org_unit").model_class
        units = {u.code: u for u in model.objects.filter(code__in=[r.code for r in plan.records["org_unit"]])}
        created = updated = 0
        for unit_plan in plan.records["org_unit"]:  # parents come before their children
            values = dict(unit_plan.values)
            if "parent" in unit_plan.refs:
                values["parent_id"] = units[unit_plan.refs["parent"][1]].pk
            ctx = golden.ChangeContext(source=source, reason=REASON, rule="demo")
            current = units.get(unit_plan.code)
            if current is None:
                units[unit_plan.code] = golden.create(model, {"code": unit_plan.code, **values}, ctx)
                created += 1
            elif _differs(current, values):
                units[unit_plan.code] = golden.update(current, values, ctx)
                updated += 1
        report.created["org_unit"], report.updated["org_unit"] = created, updated
        report.logins = _logins(admin_password, demo_password)
    return report


def _differs(record, values: dict) -> bool:
    """Would applying ``values`` change ``record``? (Compared as the model stores them.)"""
    for name, value in values.items():
        setattr(record, name, value)
    return bool(record.changed_fields())


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
        _grant_once(user, units[company.code], STEWARD_ACTIONS)
        logins.append(Login(username, f"steward of {company.code} · {company.name}", password))

    integration = user_model.objects.filter(username=INTEGRATION_USER).first()
    token = None
    if integration is None:
        integration = user_model.objects.create_user(INTEGRATION_USER, email="", password=None)
        integration.user_permissions.set(Permission.objects.filter(codename__in=INTEGRATION_PERMS))
        token = tokens.issue(integration, "demo ERP integration").key
    _grant_once(integration, units[catalog.GROUP_CODE], ("view", "change"))  # the group ERP serves every company
    logins.append(Login(INTEGRATION_USER, "API system account (token only)", None, token))
    return logins


def new_password() -> str:
    """16 letters and digits: strong, and safe to paste into a shell or a login form."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))


def _grant_once(user, unit, actions: tuple[str, ...]) -> None:
    """``actions`` on ``unit``'s subtree, without touching grants that already exist."""
    granted = {(action, granted_unit.pk) for action, granted_unit in access.grants_of(user)}
    for action in actions:
        if (action, unit.pk) not in granted:
            access.grant(user, action, unit)
