"""Demo data: a realistic group of three companies with its master data, sources and logins.

``plan`` says what the group looks like and what its source systems hold (pure, seeded);
``writer`` writes the org tree and the logins (idempotent); ``drops`` writes the source
systems' records as the files they would drop. ``connectors.services.demo`` pulls those files
through the pipeline, and ``manage.py seed_demo`` does all of it.
"""

from __future__ import annotations

from . import drops
from .plan import DEFAULT_SEED, DemoPlan, build
from .writer import Login, SeedReport, write

__all__ = ["DEFAULT_SEED", "DemoPlan", "Login", "SeedReport", "build", "drops", "write"]
