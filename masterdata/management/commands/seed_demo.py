"""``manage.py seed_demo``: fill the hub with a realistic demo group (idempotent, deterministic)."""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from masterdata.services import demo


class Command(BaseCommand):
    help = (
        "Create the demo group: 3 companies with departments, ~300 customers, ~150 suppliers, ~300 materials, "
        "~200 employees, an ERP, a CRM and an HR system with links, an admin and a steward per company. "
        "Running it again changes nothing. Passwords: MDM_ADMIN_PASSWORD and MDM_DEMO_PASSWORD, else generated "
        "and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="Random seed of the demo group.")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even though DEBUG is off (demo data does not belong in a production database).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError("DEBUG is off: refusing to write demo data. Pass --allow-production if you mean it.")
        started = time.monotonic()
        report = demo.seed(
            options["seed"],
            admin_password=os.environ.get("MDM_ADMIN_PASSWORD") or None,
            demo_password=os.environ.get("MDM_DEMO_PASSWORD") or None,
        )
        elapsed = time.monotonic() - started
        for domain, created in report.created.items():
            self.stdout.write(f"  {domain:<9} {created:>4} created, {report.updated[domain]:>4} updated")
        self.stdout.write(f"  links     {report.links_created:>4} created, {report.links_updated:>4} updated")
        verdict = "Demo data written" if report.changed_anything else "Demo data already in place, nothing changed"
        self.stdout.write(self.style.SUCCESS(f"{verdict} ({elapsed:.1f} s)."))
        self.stdout.write("Logins (browser: /admin/, API: /api/v1/):")
        for login in report.logins:
            if login.token:
                secret = f"API token: {login.token}"
            elif login.password:
                secret = f"password: {login.password}"
            elif login.username == demo.writer.INTEGRATION_USER:
                secret = f"token unchanged (manage.py drf_create_token {login.username} shows it)"
            else:
                secret = "password unchanged since creation (manage.py changepassword resets it)"
            self.stdout.write(f"  {login.username} — {login.role} — {secret}")
