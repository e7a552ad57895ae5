"""``manage.py import_config FILE [--dry-run] [--allow-plaintext-secrets]``: make the hub match a config file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.services import config, config_apply


class Command(BaseCommand):
    help = (
        "Create or update sources, connections, mappings (with their schedules), source trust and survivorship "
        "rules from a YAML file — all or nothing; nothing is deleted. A second import of the same file changes "
        "nothing. Secrets must be ${ENV:NAME} references."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The YAML file (- for standard input).")
        parser.add_argument("--dry-run", action="store_true", help="Print what would change; write nothing.")
        parser.add_argument(
            "--allow-plaintext-secrets",
            action="store_true",
            help="Accept secrets written in clear in the file (they are stored encrypted).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}.") from exc
        try:
            document = config.load(text, name, allow_plaintext=options["allow_plaintext_secrets"])
        except config.ConfigError as exc:
            raise CommandError(
                f"{name} cannot be imported ({len(exc.problems)} problems):\n  " + "\n  ".join(exc.problems)
            ) from exc
        result = config_apply.apply(document, dry_run=options["dry_run"], origin=name)
        for line in result.lines():
            self.stdout.write(line)
        if not result.changed:
            self.stdout.write("No changes: the hub already matches the file.")
        elif result.dry_run:
            self.stdout.write(f"Dry run: {len(result.changes)} changes shown, nothing written.")
        else:
            self.stdout.write(self.style.SUCCESS(f"{len(result.changes)} changes imported from {name}."))
