"""Models of the connectors app, one module per concern."""

from .connection import AuthType, Connection, Protocol

__all__ = ["AuthType", "Connection", "Protocol"]
