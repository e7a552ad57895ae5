"""Admin of the integration settings and the sync bookkeeping (connections, mappings, runs, failures)."""

from . import connection, failures, mapping, sync  # noqa: F401  (registers the model admins)
