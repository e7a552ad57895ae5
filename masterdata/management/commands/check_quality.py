"""``manage.py check_quality [DOMAIN ...]``: apply the data-quality rules to existing records now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from masterdata.registry import registry
from masterdata.services import quality


class Command(BaseCommand):
    help = "Check every live golden record against the active data-quality rules; update issues and scores."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domains", nargs="*", help="Domain names (all domains when none), e.g. supplier.")

    def handle(self, *args: Any, **options: Any) -> None:
        unknown = [name for name in options["domains"] if name not in registry]
        if unknown:
            known = ", ".join(d.name for d in registry)
            raise CommandError(f"Unknown domain {unknown[0]!r}; known: {known}.")
        names = options["domains"] or [None]
        for name in names:
            for domain, counts in quality.check_existing(name).items():
                self.stdout.write(f"{domain}: {counts['records']} records checked, {counts['issues']} rule violations")
        summary = {row["domain"]: row for row in quality.summary()["domains"]}
        for name in options["domains"] or [d.name for d in registry]:
            average = summary[name]["average_score"]
            self.stdout.write(f"{name}: average score {'—' if average is None else average}")
