"""Keeps the org-unit closure table in step with the tree."""

from __future__ import annotations

from django.db import transaction

from masterdata.models.org import OrgUnit, OrgUnitClosure


def is_descendant(unit_id: int, *, of: int) -> bool:
    """True when ``unit_id`` lies in the subtree of ``of`` (itself included)."""
    return OrgUnitClosure.objects.filter(ancestor_id=of, descendant_id=unit_id).exists()


def subtree_ids(unit_id: int):
    """Subquery of the ids of ``unit_id`` and everything under it."""
    return OrgUnitClosure.objects.filter(ancestor_id=unit_id).values("descendant_id")


@transaction.atomic
def place_in_tree(unit: OrgUnit) -> None:
    """(Re)write the closure rows of ``unit``'s subtree after it was created or moved.

    Rows linking the subtree to its old ancestors go; rows linking it to the new parent's
    ancestors come. Rows inside the subtree stay as they are.
    """
    if unit.parent_id is not None and is_descendant(unit.parent_id, of=unit.pk):
        raise ValueError(f"Org unit {unit.code} cannot be placed under its own subtree.")
    subtree = list(OrgUnitClosure.objects.filter(ancestor_id=unit.pk).values_list("descendant_id", "depth")) or [
        (unit.pk, 0)
    ]
    subtree_nodes = [node for node, _ in subtree]
    OrgUnitClosure.objects.filter(descendant_id__in=subtree_nodes).exclude(ancestor_id__in=subtree_nodes).delete()
    rows = []
    if not OrgUnitClosure.objects.filter(ancestor_id=unit.pk, descendant_id=unit.pk).exists():
        rows.append(OrgUnitClosure(ancestor_id=unit.pk, descendant_id=unit.pk, depth=0))
    if unit.parent_id is not None:
        ancestors = OrgUnitClosure.objects.filter(descendant_id=unit.parent_id).values_list("ancestor_id", "depth")
        for ancestor_id, ancestor_depth in ancestors:
            for node, depth in subtree:
                rows.append(
                    OrgUnitClosure(ancestor_id=ancestor_id, descendant_id=node, depth=ancestor_depth + depth + 1)
                )
    OrgUnitClosure.objects.bulk_create(rows)


@transaction.atomic
def rebuild_closure() -> int:
    """Rebuild the whole closure table from the parent links (repairs; bulk loads)."""
    parents = dict(OrgUnit.objects.values_list("id", "parent_id"))
    rows = []
    for node in parents:
        depth, current, seen = 0, node, set()
        while current is not None and current not in seen:
            seen.add(current)
            rows.append(OrgUnitClosure(ancestor_id=current, descendant_id=node, depth=depth))
            current, depth = parents.get(current), depth + 1
    OrgUnitClosure.objects.all().delete()
    OrgUnitClosure.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
