"""Models of the masterdata app, one module per concern."""

from .access import OrgUnitGroupPermission, OrgUnitUserPermission
from .base import GoldenRecord, GoldenStatus
from .domains import Customer, Employee, Material, MaterialType, Supplier
from .org import OrgUnit, OrgUnitClosure, OrgUnitType
from .sources import LinkStatus, SourceDomain, SourceKind, SourceLink, SourceSystem, SyncDirection

__all__ = [
    "Customer",
    "Employee",
    "GoldenRecord",
    "GoldenStatus",
    "LinkStatus",
    "Material",
    "MaterialType",
    "OrgUnit",
    "OrgUnitClosure",
    "OrgUnitGroupPermission",
    "OrgUnitType",
    "OrgUnitUserPermission",
    "SourceDomain",
    "SourceKind",
    "SourceLink",
    "SourceSystem",
    "Supplier",
    "SyncDirection",
]
