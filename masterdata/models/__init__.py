"""Models of the masterdata app, one module per concern."""

from .access import OrgUnitGroupPermission, OrgUnitUserPermission
from .base import GoldenRecord, GoldenStatus
from .domains import Customer, Employee, Material, MaterialType, Supplier
from .governance import (
    ChangeEvent,
    ChangeKind,
    Conflict,
    ConflictReason,
    ConflictStatus,
    DuplicateSuspect,
    SurvivorshipRule,
    SurvivorshipStrategy,
    SuspectStatus,
)
from .merges import MergeRecord, MergeStatus
from .org import OrgUnit, OrgUnitClosure, OrgUnitType
from .sources import LinkStatus, SourceDomain, SourceKind, SourceLink, SourceSystem, SyncDirection

__all__ = [
    "ChangeEvent",
    "ChangeKind",
    "Conflict",
    "ConflictReason",
    "ConflictStatus",
    "Customer",
    "DuplicateSuspect",
    "Employee",
    "GoldenRecord",
    "GoldenStatus",
    "LinkStatus",
    "Material",
    "MaterialType",
    "MergeRecord",
    "MergeStatus",
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
    "SurvivorshipRule",
    "SurvivorshipStrategy",
    "SuspectStatus",
    "SyncDirection",
]
