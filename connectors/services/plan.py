"""What a dry run would do: new records, changes per field, conflicts and failures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectors.services.failures import FailedItem

if TYPE_CHECKING:
    from masterdata.services.ingest import BatchResult


@dataclass
class DryRunPlan:
    new: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    """Source key → golden fields that would change."""
    unchanged: int = 0
    conflicts: dict[str, list[str]] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    failures: list[FailedItem] = field(default_factory=list)
    vanished: int | None = None
    """Full runs: links that would be flagged vanished."""

    def add(self, result: BatchResult, failures: list[FailedItem]) -> None:
        """One batch: its ingest result and every failure of it (mapping and ingest)."""
        self.failures.extend(failures)
        for item in result.outcomes:
            if item.outcome == "created":
                self.new.append(item.source_key)
            elif item.outcome == "updated":
                self.changed[item.source_key] = list(item.changed_fields)
            elif item.outcome == "conflict":
                self.conflicts[item.source_key] = list(item.conflicts)
                if item.changed_fields:
                    self.changed[item.source_key] = list(item.changed_fields)
            elif item.outcome == "duplicate_suspect":
                self.duplicates.append(item.source_key)
            elif item.outcome != "failed":  # failures come in ``failures``, with their payloads
                self.unchanged += 1

    def field_changes(self) -> Counter:
        return Counter(name for fields in self.changed.values() for name in fields)

    def lines(self, limit: int = 20) -> list[str]:
        """The plan as text, at most ``limit`` examples per section."""
        out = [
            f"new: {len(self.new)}  changed: {len(self.changed)}  unchanged: {self.unchanged}  "
            f"conflicts: {len(self.conflicts)}  duplicate suspects: {len(self.duplicates)}  "
            f"failures: {len(self.failures)}" + ("" if self.vanished is None else f"  vanished: {self.vanished}")
        ]
        if self.new:
            out.append("new records: " + _sample(self.new, limit))
        for name, count in sorted(self.field_changes().items(), key=lambda pair: (-pair[1], pair[0])):
            keys = [key for key, fields in self.changed.items() if name in fields]
            out.append(f"changes {name}: {count} ({_sample(keys, limit)})")
        for key, fields in list(self.conflicts.items())[:limit]:
            out.append(f"conflict {key}: {', '.join(fields) or 'conflicting values'}")
        if self.duplicates:
            out.append("duplicate suspects: " + _sample(self.duplicates, limit))
        for item in self.failures[:limit]:
            out.append(f"failure [{item.stage}] {item.source_key or '(no key)'}: {item.error}")
        if len(self.failures) > limit:
            out.append(f"… and {len(self.failures) - limit} more failures")
        return out


def _sample(keys: list[str], limit: int) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")
