"""Direct-FK object permission tables for org units (django-guardian).

Guardian's generic tables key objects by a text ``object_pk``; these typed tables let the
"records under the org units you were granted" filter be a plain integer join.
"""

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .org import OrgUnit


class OrgUnitUserPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(OrgUnit, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "org unit user permission"


class OrgUnitGroupPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(OrgUnit, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "org unit group permission"
