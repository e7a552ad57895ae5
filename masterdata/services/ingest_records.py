"""What goes into an ingest batch and what comes out of it: records, the rules applied, outcomes.

:mod:`masterdata.services.ingest` runs the batch; connectors build :class:`IncomingRecord` and
read :class:`BatchResult`. Both names are also importable from :mod:`.ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from masterdata.models import QualityRule
from masterdata.registry import Domain
from masterdata.services import quality
from masterdata.services.survivorship import RuleBook

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
SKIPPED = "skipped_unchanged_payload"
CONFLICTED = "conflict"
SUSPECTED = "duplicate_suspect"
FAILED = "failed"
OUTCOMES = (CREATED, UPDATED, UNCHANGED, SKIPPED, CONFLICTED, SUSPECTED, FAILED)


@dataclass
class IncomingRecord:
    source_key: str
    """The record's key in the source system."""
    values: dict[str, Any]
    """Golden field name → value, already mapped (foreign keys as business codes: ``"owner_org": "A"``)."""
    payload: dict[str, Any]
    """The raw source record (kept on the link, hashed to skip unchanged records)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Unmapped fields to keep in the golden record's ``attributes``."""
    observed_at: datetime | None = None
    """When the source changed the record (its cursor value); now when unknown."""


@dataclass
class RecordOutcome:
    source_key: str
    outcome: str
    """created | updated | unchanged | skipped_unchanged_payload | conflict | duplicate_suspect | failed"""
    golden_id: int | None = None
    changed_fields: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """Fields now in open conflict because of this record."""
    stage: str | None = None
    """For failed: validate | match | write."""
    errors: dict[str, list[str]] | None = None
    """For failed: field → messages (``__all__`` for the record as a whole)."""


@dataclass
class Rules:
    """The rules a batch applies: survivorship with the sources' trust ranks, and data quality.

    Loaded for each batch unless given. A pull loads them once and applies them to all its
    pages, as they stood when it started: every page is judged alike, and three queries a page
    are saved. A rule changed during a pull applies from the next one.
    """

    survivorship: RuleBook
    quality: list[QualityRule]

    @classmethod
    def load(cls, domain: Domain) -> Rules:
        return cls(RuleBook.load(domain), quality.active_rules(domain))


@dataclass
class BatchResult:
    outcomes: list[RecordOutcome]
    """One per incoming record, in the order given."""
    counts: dict[str, int]
    """Records per outcome (every outcome present, zero when none)."""
