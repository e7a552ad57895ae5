"""The edges of the hub: connections, mappings, protocol adapters, the sync pipeline, push delivery."""
