"""Granting and revoking org-unit scope on guardian's object-permission pages.

guardian's stock forms offer every permission of the model (add, delete, grant…) and write
them directly; here only the scope permissions that mean something are offered, and they
are written through :mod:`masterdata.services.access` like every other grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardian.admin import AdminGroupObjectPermissionsForm, AdminUserObjectPermissionsForm

from masterdata.services import access

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

SCOPE_LABELS: dict[str, str] = {
    "view": "View records of this unit and below",
    "change": "Change records of this unit and below",
    "resolve": "Resolve conflicts and failed syncs of this unit and below",
    "view_sensitive": "Reveal sensitive fields of records of this unit and below",
}
ACTION_OF_CODENAME: dict[str, access.Action] = {codename: action for action, codename in access.SCOPE_CODENAMES.items()}


def can_manage_access(user: AbstractBaseUser) -> bool:
    """Superusers and holders of the global ``grant_orgunit`` permission hand out org-unit scope."""
    return bool(user.is_active and (user.is_superuser or user.has_perm("masterdata.grant_orgunit")))


class ScopeGrantFormMixin:
    """Offers the scope permissions only and saves them with ``access.grant`` / ``access.revoke``."""

    #: Attribute of guardian's form holding the user or group being granted.
    principal_attr: str

    def get_obj_perms_field_choices(self) -> list[tuple[str, str]]:
        return [(codename, SCOPE_LABELS[action]) for action, codename in access.SCOPE_CODENAMES.items()]

    def get_obj_perms_field_label(self) -> str:
        return "Scope"

    def save_obj_perms(self) -> None:
        chosen = set(self.cleaned_data[self.get_obj_perms_field_name()])
        held = set(self.get_obj_perms_field_initial()) & set(ACTION_OF_CODENAME)
        principal = getattr(self, self.principal_attr)
        for codename in sorted(held - chosen):
            access.revoke(principal, ACTION_OF_CODENAME[codename], self.obj)
        for codename in sorted(chosen - held):
            access.grant(principal, ACTION_OF_CODENAME[codename], self.obj)


class UserScopeGrantForm(ScopeGrantFormMixin, AdminUserObjectPermissionsForm):
    principal_attr = "user"


class GroupScopeGrantForm(ScopeGrantFormMixin, AdminGroupObjectPermissionsForm):
    principal_attr = "group"
