"""Existing sync failures get their owner: from their record, their link, or else the group.

A migration of its own: the column and its index (0007) are committed first, so the updates here
never run in a transaction that still has to build an index (PostgreSQL refuses that).
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def group_root(apps):
    """The org tree's root (the group), as :func:`connectors.services.failures.group_root_id` finds it."""
    units = apps.get_model("masterdata", "OrgUnit")._base_manager.filter(parent__isnull=True).exclude(status="merged")
    return units.order_by(models.Case(models.When(unit_type="group", then=0), default=1), "pk").first()


def backfill_owners(apps, schema_editor):
    """Linked golden ids first, then each record's owner; whatever is left belongs to the group."""
    from masterdata.registry import registry

    failure_model = apps.get_model("connectors", "SyncFailure")
    link_model = apps.get_model("masterdata", "SourceLink")
    failures = failure_model._base_manager.all()
    links = link_model._base_manager.filter(
        source_id=OuterRef("source_id"), domain=OuterRef("domain"), source_key=OuterRef("source_key")
    )
    failures.filter(golden_id__isnull=True, direction="inbound").exclude(source_key="").update(
        golden_id=Subquery(links.values("golden_id")[:1])
    )
    for domain in registry:
        if domain.org_field is None:
            continue
        try:
            model = apps.get_model(domain.model_class._meta.label)
        except LookupError:
            continue
        column = "pk" if domain.org_field == "pk" else f"{domain.org_field}_id"
        owner = model._base_manager.filter(pk=OuterRef("golden_id")).values(column)[:1]
        failures.filter(domain=domain.name, golden_id__isnull=False).update(owner_org_id=Subquery(owner))
    root = group_root(apps)
    if root is not None:
        failures.filter(owner_org__isnull=True).update(owner_org_id=root.pk)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0007_failure_owner_org")]

    operations = [migrations.RunPython(backfill_owners, migrations.RunPython.noop, elidable=True)]
