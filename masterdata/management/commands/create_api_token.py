"""``manage.py create_api_token USER [--read-only] [--expires-in DAYS] [--name NAME]``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from masterdata.services import tokens


class Command(BaseCommand):
    help = "Issue an API token for USER and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What uses the token (default: 'token of USER').")
        parser.add_argument("--read-only", action="store_true", help="Allow GET, HEAD and OPTIONS only.")
        parser.add_argument("--expires-in", type=int, metavar="DAYS", help="Valid for this many days (default: ever).")

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        try:
            user = model._default_manager.get_by_natural_key(options["username"])
        except model.DoesNotExist:
            raise CommandError(f"No user {options['username']!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {user.get_username()!r} is inactive: its tokens would be refused.")
        try:
            issued = tokens.issue(
                user,
                options["name"] or f"token of {user.get_username()}",
                read_only=options["read_only"],
                expires_in_days=options["expires_in"],
                actor_label="manage.py create_api_token",
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(issued.key)
        scope = "read-only" if issued.token.read_only else "read-write"
        expiry = f"expires {issued.token.expires_at.isoformat()}" if issued.token.expires_at else "never expires"
        self.stderr.write(f"Token {issued.token.prefix}… for {user.get_username()}: {scope}, {expiry}. "
                          "Copy it now: it is not stored and will not be shown again.")  # fmt: skip
