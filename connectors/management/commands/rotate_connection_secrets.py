"""``manage.py rotate_connection_secrets``: re-encrypt connection secrets under the current key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.services.secrets import rotate_connection_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection secret under the first key of MDM_ENCRYPTION_KEYS. Put the new key "
        "first, keep the old ones, run this, then remove the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = rotate_connection_secrets(actor_label="manage.py rotate_connection_secrets")
        self.stdout.write(f"Re-encrypted {result.rotated} secret(s).")
        if result.undecryptable:
            ids = ", ".join(str(pk) for pk in result.undecryptable)
            raise CommandError(f"No configured key decrypts the secrets of connection(s) {ids}; they were left as is.")
