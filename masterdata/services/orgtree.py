"""Keeps the org-unit closure table in step with the tree."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import QuerySet

from masterdata.models.org import OrgUnit, OrgUnitClosure

#: Key of the PostgreSQL advisory lock that serialises changes of the tree's shape.
TREE_LOCK_KEY = 0x4D444D_0001


class TreeCycleError(ValueError):
    """An org unit was to be placed under itself or its own subtree."""


def lock_tree() -> None:
    """Serialise tree changes until the transaction ends.

    Two concurrent moves (X under Y, Y under X) would each pass the cycle check against the
    other's uncommitted state; holding one lock makes the second see the first. SQLite
    serialises writers on its own.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])


def is_descendant(unit_id: int, *, of: int) -> bool:
    """True when ``unit_id`` lies in the subtree of ``of`` (itself included)."""
    return OrgUnitClosure.objects.filter(ancestor_id=of, descendant_id=unit_id).exists()


def subtree_ids(unit_id: int) -> QuerySet:
    """Subquery of the ids of ``unit_id`` and everything under it."""
    return OrgUnitClosure.objects.filter(ancestor_id=unit_id).values("descendant_id")


@transaction.atomic
def place_in_tree(unit: OrgUnit) -> None:
    """(Re)write the closure rows of ``unit``'s subtree after it was created or moved.

    Rows linking the subtree to its old ancestors go; rows linking it to the new parent's
    ancestors come. Rows inside the subtree stay as they are.
    """
    lock_tree()
    if unit.parent_id is not None and (unit.parent_id == unit.pk or is_descendant(unit.parent_id, of=unit.pk)):
        raise TreeCycleError(f"Org unit {unit.code} cannot be placed under itself or its own subtree.")
    subtree = list(OrgUnitClosure.objects.filter(ancestor_id=unit.pk).values_list("descendant_id", "depth"))
    rows = []
    if not subtree:  # a new unit: its own row first
        subtree = [(unit.pk, 0)]
        rows.append(OrgUnitClosure(ancestor_id=unit.pk, descendant_id=unit.pk, depth=0))
    subtree_nodes = [node for node, _ in subtree]
    OrgUnitClosure.objects.filter(descendant_id__in=subtree_nodes).exclude(ancestor_id__in=subtree_nodes).delete()
    if unit.parent_id is not None:
        ancestors = OrgUnitClosure.objects.filter(descendant_id=unit.parent_id).values_list("ancestor_id", "depth")
        rows += [
            OrgUnitClosure(ancestor_id=ancestor_id, descendant_id=node, depth=ancestor_depth + depth + 1)
            for ancestor_id, ancestor_depth in ancestors
            for node, depth in subtree
        ]
    OrgUnitClosure.objects.bulk_create(rows)


@transaction.atomic
def rebuild_closure() -> int:
    """Rebuild the whole closure table from the parent links (repairs; bulk loads).

    Refuses a tree with a cycle (possible only through raw SQL or ``QuerySet.update``).
    """
    lock_tree()
    parents = dict(OrgUnit.objects.values_list("id", "parent_id"))
    rows = []
    for node in parents:
        depth, current, seen = 0, node, set()
        while current is not None:
            if current in seen:
                raise TreeCycleError(f"The org tree has a cycle through org unit id {current}.")
            seen.add(current)
            rows.append(OrgUnitClosure(ancestor_id=current, descendant_id=node, depth=depth))
            current, depth = parents.get(current), depth + 1
    OrgUnitClosure.objects.all().delete()
    OrgUnitClosure.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
