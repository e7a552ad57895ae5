"""Signal wiring of the audit log: logins, failed logins and lockouts, and every change of who may do what.

Permission changes are audited here, on the models that hold them, rather than in the code
paths that make them: the admin's user and group pages, guardian's object-permission pages,
services, commands and a shell are then all caught, and each change is written once.

* **object permissions** — a row of any of guardian's tables, generic or direct-FK (ingest
  grants on mappings, org-unit scope written by :mod:`masterdata.services.access`), created or
  deleted: one event per row. Scope on an org unit is an ``access.*`` event, anything else an
  ``object_permission.*`` one;
* **model permissions** of users and groups, and **group membership**: one event per user or
  group and change, naming what it gained or lost (``add``, ``remove``, ``clear``, ``set``, from
  either side of the relation);
* a user's **``is_staff``, ``is_superuser``, ``is_active``**: one event per save that changes
  them (and per user created staff or superuser).

The actor is the request's user within a request (:class:`masterdata.middleware.AuditContextMiddleware`),
else the system. Writes that send no signals — ``QuerySet.update``, ``bulk_create`` (so guardian's
``bulk_assign_perm`` and ``assign_perm`` to a list of users), raw SQL — are not seen.

Only the user name is kept of a failed login: Django replaces the password in the signal's
credentials, and nothing else the client sent is stored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from axes.signals import user_locked_out
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from guardian.models import BaseGenericObjectPermission, GroupObjectPermissionBase, UserObjectPermissionBase

from masterdata.models import AuditAction, OrgUnit
from masterdata.services import access, audit

USERNAME_LENGTH = 150


@receiver(user_logged_in, dispatch_uid="masterdata.audit.login")
def audit_login(sender, request, user, **kwargs) -> None:
    audit.record(AuditAction.LOGIN_SUCCEEDED, actor=user, request=request, obj=user)


@receiver(user_login_failed, dispatch_uid="masterdata.audit.login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username", ""))[:USERNAME_LENGTH]
    audit.record(
        AuditAction.LOGIN_FAILED,
        actor_label=username or "?",
        request=request,
        detail={"username": username},
    )


@receiver(user_locked_out, dispatch_uid="masterdata.audit.locked_out")
def audit_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    username = str(username or "")[:USERNAME_LENGTH]
    audit.record(
        AuditAction.LOGIN_LOCKED_OUT,
        actor_label=username or "?",
        request=request,
        detail={"username": username, "ip_address": ip_address},
    )


# --- who is concerned -----------------------------------------------------------------------------


def _principal_detail(model: type[models.Model], principal: models.Model | None, pk: Any) -> dict[str, Any]:
    """The user or group whose rights change, as every permission event names it."""
    if issubclass(model, Group):
        return {"principal_type": "group", "principal": principal.name if principal else "", "principal_id": pk}
    return {"principal_type": "user", "principal": principal.get_username() if principal else "", "principal_id": pk}


def _permission_label(permission: Permission) -> str:
    content_type = ContentType.objects.get_for_id(permission.content_type_id)  # cached: no query per event
    return f"{content_type.app_label}.{permission.codename}"


def _related(row: models.Model, name: str) -> models.Model | None:
    """``row.<name>``, or None when that row is already gone."""
    try:
        return getattr(row, name)
    except ObjectDoesNotExist:
        return None


# --- object permissions (guardian) ----------------------------------------------------------------

SCOPE_ACTION_OF_CODENAME = {codename: action for action, codename in access.SCOPE_CODENAMES.items()}


def _object_permission_changed(row: models.Model, granted: bool) -> None:
    """One event per guardian row: org-unit scope as ``access.*``, anything else as ``object_permission.*``."""
    is_group = isinstance(row, GroupObjectPermissionBase)
    principal_field = "group" if is_group else "user"
    principal_model = row._meta.get_field(principal_field).related_model
    principal = _related(row, principal_field)
    who = _principal_detail(principal_model, principal, getattr(row, f"{principal_field}_id"))
    permission = row.permission
    generic = isinstance(row, BaseGenericObjectPermission)
    if generic:
        content_type = ContentType.objects.get_for_id(row.content_type_id)
        target_model, object_id = content_type.model_class(), row.object_pk
        object_type = f"{content_type.app_label}.{content_type.model}"
    else:
        target_model = row._meta.get_field("content_object").related_model
        object_type, object_id = target_model._meta.label_lower, row.content_object_id
    on_unit = target_model is OrgUnit
    if on_unit and not generic and permission.codename in SCOPE_ACTION_OF_CODENAME:  # the tables scope is read from
        unit = _related(row, "content_object")
        audit.record(
            AuditAction.ACCESS_GRANTED if granted else AuditAction.ACCESS_REVOKED,
            object_type=object_type,
            object_id=object_id,
            org_unit_id=row.content_object_id,
            detail={**who, "scope": SCOPE_ACTION_OF_CODENAME[permission.codename],
                    "org_unit": unit.code if unit else ""},
        )  # fmt: skip
        return
    audit.record(
        AuditAction.OBJECT_PERMISSION_GRANTED if granted else AuditAction.OBJECT_PERMISSION_REVOKED,
        object_type=object_type,
        object_id=object_id,
        org_unit_id=int(object_id) if on_unit else None,
        detail={**who, "permission": _permission_label(permission)},
    )


def audit_object_permission_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        _object_permission_changed(instance, granted=True)


def audit_object_permission_deleted(sender, instance, **kwargs) -> None:
    _object_permission_changed(instance, granted=False)


def object_permission_models() -> list[type[models.Model]]:
    """Every table of guardian object permissions: its two generic ones and each direct-FK one."""
    bases = (UserObjectPermissionBase, GroupObjectPermissionBase)
    return [model for model in apps.get_models() if issubclass(model, bases)]


for _model in object_permission_models():
    _uid = f"masterdata.audit.object_permission.{_model._meta.label_lower}"
    post_save.connect(audit_object_permission_saved, sender=_model, dispatch_uid=f"{_uid}.saved")
    post_delete.connect(audit_object_permission_deleted, sender=_model, dispatch_uid=f"{_uid}.deleted")


# --- model permissions and group membership -------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A many-to-many relation that gives rights: to whom (``principal``) and what (``other``)."""

    through: type[models.Model]
    principal: str
    """Column of the through table naming the user or group whose rights change."""
    other: str
    """Column naming the permission or group it gains or loses."""

    @classmethod
    def of(cls, model: type[models.Model], field_name: str) -> Link:
        field = model._meta.get_field(field_name)
        return cls(field.remote_field.through, field.m2m_field_name(), field.m2m_reverse_field_name())

    def model_of(self, column: str) -> type[models.Model]:
        return self.through._meta.get_field(column).related_model

    @property
    def gives_permissions(self) -> bool:
        return issubclass(self.model_of(self.other), Permission)

    @property
    def detail_key(self) -> str:
        return "permissions" if self.gives_permissions else "groups"

    def action(self, added: bool) -> AuditAction:
        if self.gives_permissions:
            return AuditAction.PERMISSION_GRANTED if added else AuditAction.PERMISSION_REVOKED
        return AuditAction.GROUP_MEMBER_ADDED if added else AuditAction.GROUP_MEMBER_REMOVED


_User = get_user_model()
LINKS = {link.through: link for link in (Link.of(_User, "user_permissions"), Link.of(Group, "permissions"),
                                         Link.of(_User, "groups"))}  # fmt: skip
#: Attribute of the instance a remove or clear starts from, keeping the pairs it is about to delete.
_PENDING = "_mdm_audit_pending_links"


def _pairs_held(link: Link, instance: models.Model, reverse: bool, pk_set: set | None) -> list[tuple[Any, Any]]:
    """(principal id, other id) pairs that exist now: ``remove`` is sent every id asked for, held or not."""
    mine, theirs = (link.other, link.principal) if reverse else (link.principal, link.other)
    rows = link.through._default_manager.filter(**{f"{mine}_id": instance.pk})
    if pk_set is not None:
        rows = rows.filter(**{f"{theirs}_id__in": pk_set})
    return list(rows.values_list(f"{link.principal}_id", f"{link.other}_id"))


def _labels(model: type[models.Model], ids: set[Any]) -> dict[Any, str]:
    if issubclass(model, Permission):
        return {p.pk: _permission_label(p) for p in Permission.objects.filter(pk__in=ids)}
    return {g.pk: str(g) for g in model._default_manager.filter(pk__in=ids)}


def _record_links(link: Link, pairs: list[tuple[Any, Any]], added: bool) -> None:
    """One event per user or group, listing every permission or group it gained (or lost)."""
    if not pairs:
        return
    others_of: dict[Any, set[Any]] = defaultdict(set)
    for principal_id, other_id in pairs:
        others_of[principal_id].add(other_id)
    principal_model = link.model_of(link.principal)
    principals = principal_model._default_manager.in_bulk(list(others_of))
    labels = _labels(link.model_of(link.other), {other for _, other in pairs})
    for principal_id in sorted(others_of):
        principal = principals.get(principal_id)
        names = sorted(labels.get(other, f"#{other}") for other in others_of[principal_id])
        audit.record(
            link.action(added),
            obj=principal,
            object_type=principal_model._meta.label_lower,
            object_id=principal_id,
            detail={**_principal_detail(principal_model, principal, principal_id), link.detail_key: names},
        )


def audit_links_changed(sender, instance, action: str, reverse: bool, model, pk_set, **kwargs) -> None:
    """Additions are recorded as sent (Django sends only the new ids); removals as found held before."""
    link = LINKS[sender]
    if action in ("pre_remove", "pre_clear"):
        instance.__dict__.setdefault(_PENDING, {})[sender] = _pairs_held(link, instance, reverse, pk_set)
    elif action in ("post_remove", "post_clear"):
        _record_links(link, instance.__dict__.get(_PENDING, {}).pop(sender, []), added=False)
    elif action == "post_add":
        pairs = [(pk, instance.pk) for pk in pk_set] if reverse else [(instance.pk, pk) for pk in pk_set]
        _record_links(link, pairs, added=True)


for _through in LINKS:
    m2m_changed.connect(audit_links_changed, sender=_through, dispatch_uid=f"masterdata.audit.m2m.{_through.__name__}")


# --- staff, superuser, active ---------------------------------------------------------------------

USER_FLAGS = ("is_active", "is_staff", "is_superuser")
PRIVILEGE_FLAGS = ("is_staff", "is_superuser")
#: Attribute of the user being saved keeping its flags as stored (empty for a new user).
_FLAGS_BEFORE = "_mdm_audit_flags_before"


@receiver(pre_save, sender=_User, dispatch_uid="masterdata.audit.user_flags_before")
def remember_user_flags(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    """Read the stored flags before a save that may change them (not before a login's ``last_login``)."""
    instance.__dict__.pop(_FLAGS_BEFORE, None)
    if raw or (update_fields is not None and not set(update_fields) & set(USER_FLAGS)):
        return
    stored = None
    if instance.pk is not None:
        stored = sender._default_manager.filter(pk=instance.pk).values(*USER_FLAGS).first()
    instance.__dict__[_FLAGS_BEFORE] = stored or {}


@receiver(post_save, sender=_User, dispatch_uid="masterdata.audit.user_flags")
def audit_user_flags(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    before = instance.__dict__.pop(_FLAGS_BEFORE, None)
    if before is None:
        return
    if before:
        saved = USER_FLAGS if update_fields is None else [f for f in USER_FLAGS if f in update_fields]
        now = {f: getattr(instance, f) for f in saved}
        changes = {f: {"from": before[f], "to": now[f]} for f in saved if before[f] != now[f]}
    else:  # a new user: only the privileges it starts with matter
        changes = {f: {"from": False, "to": True} for f in PRIVILEGE_FLAGS if getattr(instance, f)}
    if changes:
        audit.record(
            AuditAction.USER_FLAGS_CHANGED,
            obj=instance,
            detail={**_principal_detail(sender, instance, instance.pk), "changes": changes, "created": created},
        )
