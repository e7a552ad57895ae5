"""Models of the masterdata app, one module per concern."""

from .access import OrgUnitGroupPermission, OrgUnitUserPermission
from .audit import AppendOnlyError, AuditAction, AuditEvent
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
from .quality import QualityIssue, QualityRule, QualityScore, RuleKind, Severity
from .sources import LinkStatus, SourceDomain, SourceKind, SourceLink, SourceSystem, SyncDirection
from .tokens import ApiToken

__all__ = [
    "ApiToken",
    "AppendOnlyError",
    "AuditAction",
    "AuditEvent",
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
    "QualityIssue",
    "QualityRule",
    "QualityScore",
    "RuleKind",
    "Severity",
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
