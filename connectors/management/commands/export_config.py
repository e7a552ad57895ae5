"""``manage.py export_config [FILE]``: the integration config as YAML (to stdout without FILE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connectors.services.config_export import export_text


class Command(BaseCommand):
    help = (
        "Write sources, connections, mappings with their schedules, source trust and survivorship rules as YAML. "
        "Secrets are written only as ${ENV:NAME} references; encrypted ones are left out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="Where to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        text = export_text()
        if options["file"] and options["file"] != "-":
            Path(options["file"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Integration config written to {options['file']}.")
        else:
            self.stdout.write(text, ending="")
