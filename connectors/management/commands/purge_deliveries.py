"""``manage.py purge_deliveries [--older-than DAYS] [--dry-run]``: trim the delivery ledger now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.services import retention


class Command(BaseCommand):
    help = (
        "Delete delivered push deliveries and webhook batches (and dead letters a steward has closed) older than "
        "MDM_DELIVERY_RETENTION_DAYS. Pending rows and open dead letters are kept. Change events are deleted only "
        "when MDM_CHANGE_EVENT_RETENTION_DAYS is set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            help=f"Age in days (default: MDM_DELIVERY_RETENTION_DAYS, now {retention.retention_days()}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than"]
        if days is not None and days < 0:
            raise CommandError("--older-than must be zero or more days.")
        report = retention.purge(days, dry_run=options["dry_run"])
        for line in report.lines():
            self.stdout.write(line[0].upper() + line[1:] + ".")
