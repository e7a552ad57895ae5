"""``manage.py seed_demo``: fill the hub with a realistic demo group, pulled from its demo sources.

It lives in ``connectors`` because it uses both apps: the group's structure and logins come from
``masterdata.services.demo``, its master data through the connectors' pipeline
(:mod:`connectors.services.demo`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.services import demo
from masterdata.services import demo as demo_data


class Command(BaseCommand):
    help = (
        "Create the demo group: 3 companies with departments, an ERP, a CRM and an HR system (examples/demo.yaml) "
        "dropping files the hub pulls — ~300 customers, ~150 suppliers, ~300 materials, ~200 employees, with a "
        "few conflicts and failed records to act on — an admin and a steward per company. Running it again "
        "changes nothing. Passwords: MDM_ADMIN_PASSWORD and MDM_DEMO_PASSWORD, else generated and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=demo_data.DEFAULT_SEED, help="Random seed of the demo group.")
        parser.add_argument(
            "--drop-dir",
            type=Path,
            default=None,
            help="Where the demo sources drop their files (default: $MDM_VAR_DIR/demo-drop).",
        )
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
            drop_dir=options["drop_dir"],
        )
        elapsed = time.monotonic() - started
        structure = report.structure
        self.stdout.write(
            f"  org tree  {structure.created['org_unit']:>4} created, {structure.updated['org_unit']:>4} updated"
        )
        self.stdout.write(f"  config    {len(report.config_changes):>4} changes (examples/demo.yaml)")
        for name in report.files_written:
            self.stdout.write(f"  file      {name}")
        for run in report.runs:
            counts = ", ".join(f"{name} {value}" for name, value in run.counts().items() if value)
            self.stdout.write(f"  pull      {run.source.code} · {run.domain}: {run.status} — {counts or 'nothing'}")
        work = report.work
        if work.rules_created or work.records_checked:
            checked = f"{work.rules_created:>4} rules added, {work.records_checked} records checked"
            self.stdout.write(f"  quality   {checked}")
        if work.suspects_found:
            self.stdout.write(f"  duplicates{work.suspects_found:>4} suspect pairs found")
        verdict = "Demo data written" if report.changed_anything else "Demo data already in place, nothing changed"
        self.stdout.write(self.style.SUCCESS(f"{verdict} ({elapsed:.1f} s)."))
        self.stdout.write("Logins (browser: /admin/, API: /api/v1/):")
        for login in report.logins:
            if login.token:
                secret = f"API token: {login.token}"
            elif login.password:
                secret = f"password: {login.password}"
            elif login.username == demo_data.writer.INTEGRATION_USER:
                secret = "token shown once when issued (admin ▸ API tokens issues a new one)"
            else:
                secret = "password unchanged since creation (manage.py changepassword resets it)"
            self.stdout.write(f"  {login.username} — {login.role} — {secret}")
