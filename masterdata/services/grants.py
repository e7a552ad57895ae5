"""Who holds which scope on which org unit: listing grants and setting them, audited.

A grant is the set of scope actions (view, change, resolve, view_sensitive) one user or group
holds on one org unit; it reaches the unit's whole subtree and every record owned there
(:mod:`masterdata.services.access`). Grants are stored one row per action in guardian's typed
tables; this module shows them one row per (principal, unit), users' and groups' together, a
page at a time — one query for the page, one for its actions, however many grants exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Value

from masterdata.models import OrgUnit, OrgUnitGroupPermission, OrgUnitUserPermission
from masterdata.services import access

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ACTION_OF_CODENAME = {codename: action for action, codename in access.SCOPE_CODENAMES.items()}
USER, GROUP = "user", "group"


class GrantError(ValueError):
    """A grant the screen refuses (no reason, no principal…)."""


@dataclass
class GrantRow:
    """One principal's scope on one org unit."""

    kind: str
    principal_id: int
    principal: str
    unit_id: int
    unit: str
    actions: list[str] = field(default_factory=list)


def scope_permission_ids() -> list[int]:
    """Ids of the scope permissions, looked up first: a plain ``IN (ids)`` lets PostgreSQL walk the
    grant tables' unique index in order (a join on codenames is misjudged and sorts every row)."""
    return list(
        Permission.objects.filter(
            codename__in=list(access.SCOPE_CODENAMES.values()),
            content_type__app_label=OrgUnit._meta.app_label,
            content_type__model=OrgUnit._meta.model_name,
        ).values_list("pk", flat=True)
    )


def _scope_rows(table, permission_ids: list[int]) -> QuerySet:
    return table.objects.filter(permission_id__in=permission_ids)


def _pairs(kind: str, search: str) -> QuerySet:
    """(principal, unit) pairs of one kind: the row of each pair's first action stands for the pair.

    No DISTINCT and no sort of every row: a pair's other rows are left out by an anti-join on
    the unique index (principal, permission, unit), so a page reads only as far as it shows.
    """
    is_user = kind == USER
    table, principal = (OrgUnitUserPermission, "user") if is_user else (OrgUnitGroupPermission, "group")
    name = f"user__{get_user_model().USERNAME_FIELD}" if is_user else "group__name"
    permission_ids = scope_permission_ids()
    rows = _scope_rows(table, permission_ids)
    earlier = _scope_rows(table, permission_ids).filter(
        **{principal: OuterRef(principal)},
        content_object=OuterRef("content_object"),
        permission_id__lt=OuterRef("permission_id"),
    )
    rows = rows.filter(~Exists(earlier))
    if search:
        rows = rows.filter(
            Q(**{f"{name}__icontains": search})
            | Q(content_object__code__icontains=search)
            | Q(content_object__name__icontains=search)
        )
    return rows.annotate(
        kind=Value(kind, output_field=CharField()),
        principal_id=F(f"{principal}_id"),
        unit_id=F("content_object_id"),
        principal=F(name),
        unit_code=F("content_object__code"),
        unit_name=F("content_object__name"),
    ).values("kind", "principal_id", "principal", "unit_id", "unit_code", "unit_name")


def grant_pairs(search: str = "", kind: str = USER) -> QuerySet:
    """Every (principal, unit) pair of one kind with a grant, by principal then unit."""
    return _pairs(kind, search.strip()).order_by("principal_id", "unit_id")


def page_of(search: str, kind: str | None, number: int, size: int) -> tuple[list[GrantRow], bool]:
    """Page ``number`` (from 1) of the grants — groups' first, then users' — and whether another follows.

    Nothing counts every grant, and each kind is read in the order of its unique index: a page
    reads only as far as it shows (one UNION sorted as a whole would sort all 100,000 rows).
    """
    offset = (max(number, 1) - 1) * size
    if kind in (USER, GROUP):
        pairs = list(grant_pairs(search, kind)[offset : offset + size + 1])
    else:
        groups = grant_pairs(search, GROUP)
        group_count = groups.count()  # groups are few next to users
        pairs = list(groups[offset : offset + size + 1]) if offset < group_count else []
        start = max(0, offset - group_count)
        pairs += list(grant_pairs(search, USER)[start : start + size + 1 - len(pairs)])
    return with_actions(pairs[:size]), len(pairs) > size


def with_actions(pairs: list[dict]) -> list[GrantRow]:
    """The page's pairs as rows, each with its actions: one query per principal kind."""
    rows = [
        GrantRow(p["kind"], p["principal_id"], p["principal"], p["unit_id"], f"{p['unit_code']} · {p['unit_name']}")
        for p in pairs
    ]
    permission_ids = scope_permission_ids() if rows else []
    for kind, table, column in ((USER, OrgUnitUserPermission, "user_id"), (GROUP, OrgUnitGroupPermission, "group_id")):
        wanted = [row for row in rows if row.kind == kind]
        if not wanted:
            continue
        held = _scope_rows(table, permission_ids).filter(
            **{f"{column}__in": {r.principal_id for r in wanted}},
            content_object_id__in={r.unit_id for r in wanted},
        )
        actions: dict[tuple[int, int], set[str]] = {}
        for principal_id, unit_id, codename in held.values_list(column, "content_object_id", "permission__codename"):
            actions.setdefault((principal_id, unit_id), set()).add(ACTION_OF_CODENAME[codename])
        for row in wanted:
            row.actions = [a for a in access.ACTIONS if a in actions.get((row.principal_id, row.unit_id), ())]
    return rows


def current_actions(principal, unit: OrgUnit) -> list[str]:
    return [action for action, granted in access.grants_of(principal) if granted.pk == unit.pk]


def set_scope(
    by: AbstractBaseUser, principal, unit: OrgUnit, actions: list[str], reason: str
) -> tuple[list[str], list[str]]:
    """Give ``principal`` exactly ``actions`` on ``unit`` (and so its subtree); returns (granted, revoked).

    The decision is kept in the admin log of the org unit: who set whose scope, to what, and why.
    """
    reason = (reason or "").strip()
    if not reason:
        raise GrantError("Say why: every change of access is kept with its reason.")
    unknown = set(actions) - set(access.ACTIONS)
    if unknown:
        raise GrantError(f"Unknown actions: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        held = set(current_actions(principal, unit))
        wanted = set(actions)
        granted = [a for a in access.ACTIONS if a in wanted - held]
        revoked = [a for a in access.ACTIONS if a in held - wanted]
        for action in revoked:
            access.revoke(principal, action, unit)
        for action in granted:
            access.grant(principal, action, unit)
        if granted or revoked:
            kind = GROUP if isinstance(principal, Group) else USER
            now = [a for a in access.ACTIONS if a in wanted] or ["none"]
            LogEntry.objects.create(
                user_id=by.pk,
                content_type=ContentType.objects.get_for_model(OrgUnit),
                object_id=str(unit.pk),
                object_repr=str(unit)[:200],
                action_flag=CHANGE,
                change_message=f"Scope of {kind} {principal} set to: {', '.join(now)}. Why: {reason}"[:10_000],
            )
    return granted, revoked
