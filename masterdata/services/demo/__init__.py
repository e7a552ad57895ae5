"""Demo data: a realistic group of three companies with its master data, sources and logins.

``plan`` says what the group looks like (pure, seeded); ``writer`` makes the database match
it (idempotent). ``manage.py seed_demo`` is the way in.
"""

from __future__ import annotations

from .plan import DEFAULT_SEED, DemoPlan, build
from .writer import Login, SeedReport, write

__all__ = ["DEFAULT_SEED", "DemoPlan", "Login", "SeedReport", "build", "seed", "write"]


def seed(seed: int = DEFAULT_SEED, admin_password: str | None = None, demo_password: str | None = None) -> SeedReport:
    """Make the database hold the demo group of ``seed``; a second call writes nothing."""
    return write(build(seed), admin_password=admin_password, demo_password=demo_password)
