"""The demo landscape: the demo group's ERP, CRM and HR systems, pulled through the real pipeline.

``manage.py seed_demo`` runs :func:`seed`: the org tree and logins (``masterdata.services.demo``),
then the demo integration config (``examples/demo.yaml``: three sources on the file protocol,
with the mapping shapes of ``examples/integration.yaml`` where a file allows), then the sources'
records as drop files under ``<drop dir>/<source>/``, then one pull per source and domain.
So golden records, source links, conflicts (the CRM and the ERP disagree on a few addresses at
equal trust) and failures (a few records the sources hold wrongly) come out of the pipeline
exactly as a production sync makes them. Then a duplicate scan and a few data-quality rules
give the stewards duplicate suspects and quality scores (``masterdata.services.demo.worklists``).

Idempotent: the config import changes nothing the second time, files whose content did not
change are not rewritten, and a source/domain is pulled only when its file was (re)written or
it was never pulled — a second run writes nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm

from connectors.models import Mapping, Protocol, SyncRun, SyncTrigger
from connectors.services import config, config_apply, pipeline
from connectors.services.ingest import PERMISSION
from masterdata.services import demo as demo_data
from masterdata.services.demo import worklists

DEMO_CONFIG = Path(settings.BASE_DIR) / "examples" / "demo.yaml"
#: Pull order: people before the org units that name them as managers; the ERP before the CRM,
#: so that the CRM meets existing customers (and disagrees with some).
PULL_ORDER = (("hr", "employee"), ("hr", "org_unit"), ("erp", "customer"), ("erp", "supplier"),
              ("erp", "material"), ("crm", "customer"))  # fmt: skip


@dataclass
class DemoReport:
    structure: demo_data.SeedReport
    config_changes: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    runs: list[SyncRun] = field(default_factory=list)
    work: worklists.WorkReport = field(default_factory=worklists.WorkReport)

    @property
    def logins(self) -> list[demo_data.Login]:
        return self.structure.logins

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.structure.changed_anything
            or self.config_changes
            or self.files_written
            or self.runs
            or self.work.changed_anything
        )


def default_drop_dir() -> Path:
    return Path(settings.VAR_DIR) / "demo-drop"


def demo_config(drop_dir: Path) -> dict:
    """``examples/demo.yaml`` with each file connection pointed at ``drop_dir/<source>``."""
    document = config.parse(DEMO_CONFIG.read_text(encoding="utf-8"), DEMO_CONFIG.name)
    for source in document.get("sources") or []:
        connection = source.get("connection") or {}
        if connection.get("protocol") == Protocol.FILE:
            connection["base_url"] = str(drop_dir.resolve() / source["code"])
    config.validate(document)
    return document


def seed(
    seed: int = demo_data.DEFAULT_SEED,
    *,
    admin_password: str | None = None,
    demo_password: str | None = None,
    drop_dir: Path | None = None,
) -> DemoReport:
    """Make the hub hold the demo group of ``seed``, its sources pulled; a second call writes nothing."""
    drop_dir = Path(drop_dir) if drop_dir is not None else default_drop_dir()
    plan = demo_data.build(seed)
    report = DemoReport(demo_data.write(plan, admin_password=admin_password, demo_password=demo_password))
    result = config_apply.apply(demo_config(drop_dir), origin=DEMO_CONFIG.name)
    report.config_changes = result.lines()
    _allow_integration_account_to_post()
    written = demo_data.drops.write(plan, drop_dir)
    report.files_written = [f"{drop.source}/{drop.name}" for drop in written]
    fresh = {(drop.source, drop.domain) for drop in written}
    pulled = set(SyncRun.objects.filter(trigger=SyncTrigger.COMMAND).values_list("source__code", "domain"))
    for source, domain in PULL_ORDER:
        if (source, domain) in fresh or (source, domain) not in pulled:
            report.runs.append(pipeline.pull(source, domain, trigger=SyncTrigger.COMMAND).run)
    report.work = worklists.prepare(pulled=bool(report.runs))
    return report


def _allow_integration_account_to_post() -> None:
    """The ERP's integration account may post ERP records to the ingest endpoint (README's example)."""
    account = get_user_model().objects.filter(username=demo_data.writer.INTEGRATION_USER).first()
    if account is None:
        return
    for mapping in Mapping.objects.filter(source__code="erp"):
        if not account.has_perm(PERMISSION, mapping):
            assign_perm(PERMISSION, account, mapping)
