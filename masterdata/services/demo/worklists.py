"""The demo's steward work beyond conflicts and failures: duplicate suspects and data-quality scores.

After the sources are pulled, the demo scans customers and suppliers for duplicates (the ERP
holds one customer per company twice, typed again without its legal form or tax number: see
``plan.TWIN_AT``) and checks every record against a few data-quality rules, so the workspace
shows a duplicate to merge and a quality score per domain from the first login.

Idempotent: rules are matched by domain, field and kind; the quality check runs only when a
rule was added or a source was pulled; the scan stores only pairs it did not know (a pair once
merged or marked "not a duplicate" is never suggested again).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from masterdata.models import QualityRule, RuleKind, Severity
from masterdata.registry import registry
from masterdata.services import matching, quality

#: Domains the demo scans for duplicates: the business partners (materials and people share
#: generated names too often for a scan of the demo's invented data to say anything).
SCANNED = ("customer", "supplier")
#: (domain, field, kind, description): warnings only, so that no source record is refused for them.
RULES = (
    ("customer", "tax_id", RuleKind.REQUIRED, "Customers need a tax number for invoicing."),
    ("customer", "email", RuleKind.EMAIL, "The purchasing e-mail address must be deliverable."),
    ("supplier", "tax_id", RuleKind.REQUIRED, "Suppliers need a tax number for payments."),
    ("supplier", "contact_email", RuleKind.EMAIL, "The contact e-mail address must be deliverable."),
    ("employee", "email", RuleKind.REQUIRED, "Every employee has a work e-mail address."),
    ("material", "category", RuleKind.REQUIRED, "Every material belongs to a purchasing category."),
)


@dataclass
class WorkReport:
    rules_created: int = 0
    records_checked: int = 0
    suspects_found: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(self.rules_created or self.suspects_found)


def prepare(*, pulled: bool) -> WorkReport:
    """Add the demo's quality rules, check the records (when new rules or new data call for it), scan for duplicates."""
    report = WorkReport()
    with transaction.atomic():
        for domain, field_name, kind, description in RULES:
            if domain not in registry:
                continue
            _rule, created = QualityRule.objects.get_or_create(
                domain=domain,
                field=field_name,
                kind=kind,
                defaults={"severity": Severity.WARNING, "description": description},
            )
            report.rules_created += int(created)
    if report.rules_created or pulled:
        for counts in quality.check_existing().values():
            report.records_checked += counts["records"]
    for name in SCANNED:
        if name in registry:
            report.suspects_found += len(matching.find_duplicates(registry.get(name)).pairs)
    return report
