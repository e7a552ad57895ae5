"""Business rules of the connectors app."""
