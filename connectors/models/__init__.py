"""Models of the connectors app, one module per concern."""

from .connection import AuthType, Connection, Protocol
from .mapping import Mapping
from .sync import RUN_COUNTS, FailureStage, FailureStatus, SyncFailure, SyncRun, SyncRunStatus, SyncState, SyncTrigger

__all__ = [
    "RUN_COUNTS",
    "AuthType",
    "Connection",
    "FailureStage",
    "FailureStatus",
    "Mapping",
    "Protocol",
    "SyncFailure",
    "SyncRun",
    "SyncRunStatus",
    "SyncState",
    "SyncTrigger",
]
