"""``manage.py rotate_keys``: re-encrypt every encrypted column under the current keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from masterdata.services.keys import rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret and sensitive value (connections, webhooks, sensitive golden fields and their "
        "history) under the first key of MDM_ENCRYPTION_KEYS, and recompute the blind indexes under "
        "MDM_BLIND_INDEX_KEY. Put the new key first, keep the old ones, run this, then remove the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = rotate_all(actor_label="manage.py rotate_keys")
        for column in report.columns:
            self.stdout.write(f"{column.label}: {column.rotated} value(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {report.rotated} value(s)."))
        broken = [c for c in report.columns if c.undecryptable]
        if broken:
            details = "; ".join(f"{c.label} rows {', '.join(map(str, c.undecryptable[:20]))}" for c in broken)
            raise CommandError(
                f"No configured key opens {report.undecryptable} value(s), left as they are: {details}. "
                "Restore the missing key in MDM_ENCRYPTION_KEYS and run this again."
            )
