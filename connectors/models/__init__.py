"""Models of the connectors app, one module per concern."""

from .alerts import Incident, IncidentKind
from .connection import AuthType, Connection, Protocol
from .delivery import (
    Delivery,
    DeliveryStatus,
    DeliveryTrigger,
    FailureClass,
    FeedCursor,
    PushTarget,
    WebhookDelivery,
    WebhookSubscription,
)
from .ingest import IdempotencyKey
from .mapping import Mapping
from .sync import (
    RUN_COUNTS,
    FailureDirection,
    FailureStage,
    FailureStatus,
    SyncFailure,
    SyncRun,
    SyncRunStatus,
    SyncState,
    SyncTrigger,
)

__all__ = [
    "RUN_COUNTS",
    "AuthType",
    "Connection",
    "Delivery",
    "DeliveryStatus",
    "DeliveryTrigger",
    "FailureClass",
    "FailureDirection",
    "FailureStage",
    "FailureStatus",
    "FeedCursor",
    "IdempotencyKey",
    "Incident",
    "IncidentKind",
    "Mapping",
    "Protocol",
    "PushTarget",
    "SyncFailure",
    "SyncRun",
    "SyncRunStatus",
    "SyncState",
    "SyncTrigger",
    "WebhookDelivery",
    "WebhookSubscription",
]
