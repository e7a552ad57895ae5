"""Protocol adapters behind one interface (:class:`~connectors.protocols.base.Connector`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.errors import ConfigurationError
from connectors.protocols.base import (
    CheckResult,
    Connector,
    Cursor,
    CursorTracker,
    FetchSpec,
    Outgoing,
    Page,
    PushSpec,
    Record,
    Sent,
)
from connectors.protocols.files import FileConnector
from connectors.protocols.odata import ODataV2Connector, ODataV4Connector
from connectors.protocols.rest import RestConnector
from connectors.protocols.scim import ScimConnector

if TYPE_CHECKING:
    from connectors.models import Connection

CONNECTORS: dict[str, type[Connector]] = {
    cls.protocol: cls for cls in (ODataV4Connector, ODataV2Connector, RestConnector, ScimConnector, FileConnector)
}


def get_connector(connection: Connection) -> Connector:
    """The connector for a connection's protocol (use it as a context manager to release connections)."""
    try:
        return CONNECTORS[connection.protocol](connection)
    except KeyError:
        raise ConfigurationError(f"No connector for protocol {connection.protocol!r}.") from None


__all__ = [
    "CONNECTORS",
    "CheckResult",
    "Connector",
    "Cursor",
    "CursorTracker",
    "FetchSpec",
    "Outgoing",
    "Page",
    "PushSpec",
    "Record",
    "Sent",
    "get_connector",
]
