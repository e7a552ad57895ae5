"""The connectors' HTTP API: the real-time ingest endpoint."""
