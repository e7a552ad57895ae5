"""The truth and its governance: golden records, history, sources, links, permissions, API, admin."""
