"""Admin of the integration settings and the sync bookkeeping (connections, mappings, runs, failures)."""

from . import alerts, connection, failures, mapping, push, sync  # noqa: F401  (registers the model admins)
