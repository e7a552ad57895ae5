"""``manage.py sync SOURCE DOMAIN [--full] [--dry-run]``: one pull in the foreground, with progress."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.errors import TransientError
from connectors.models import SyncRun, SyncRunStatus, SyncTrigger
from connectors.protocols import Page
from connectors.services import locks, pipeline
from masterdata.models import SourceSystem

BAR_WIDTH = 30


def progress_line(run: SyncRun, page: Page) -> str:
    """``[#####-----] 20/30 page 1 · created 20 …``; the bar only when the source gave a total."""
    bar = ""
    if page.total:
        done = min(run.fetched, page.total)
        filled = int(BAR_WIDTH * done / page.total)
        bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{page.total} "
    counts = " ".join(f"{name} {value}" for name, value in run.counts().items())
    return f"{bar}page {run.pages} · {counts}"


class Command(BaseCommand):
    help = "Pull one source system's records of one domain now (SOURCE is the source system's code)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="Source system code, e.g. crm.")
        parser.add_argument("domain", help="Domain name, e.g. customer.")
        parser.add_argument("--full", action="store_true", help="Read everything and flag vanished records.")
        parser.add_argument("--dry-run", action="store_true", help="Print what would change; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        source = SourceSystem.objects.filter(code=options["source"]).first()
        if source is None:
            raise CommandError(f"No source system {options['source']!r}.")
        started = time.monotonic()

        def progress(run: SyncRun, page: Page) -> None:
            self.stdout.write(progress_line(run, page))
            self.stdout.flush()

        try:
            result = pipeline.pull(
                source,
                options["domain"],
                full=options["full"],
                dry_run=options["dry_run"],
                trigger=SyncTrigger.COMMAND,
                progress=progress,
            )
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        except locks.PullLocked as exc:
            raise CommandError(f"{exc} Try again when it has finished.") from exc
        except TransientError as exc:
            raise CommandError(f"The source is unavailable for now: {exc}") from exc
        run = result.run
        elapsed = time.monotonic() - started
        counts = ", ".join(f"{name} {value}" for name, value in run.counts().items())
        if result.plan is not None:
            self.stdout.write(f"Dry run of {source.code} · {options['domain']} — nothing was written.")
            for line in result.plan.lines():
                self.stdout.write("  " + line)
        else:
            self.stdout.write(f"Run #{run.pk} {run.status} in {elapsed:.1f} s: {counts}")
            if run.vanished:
                self.stdout.write(f"  {run.vanished} links flagged vanished")
        if run.status == SyncRunStatus.FAILED:
            raise CommandError(run.error)
        if run.status == SyncRunStatus.PARTIAL:
            self.stdout.write(self.style.WARNING(f"Partly failed: {run.error or f'{run.failed} records failed'}"))
