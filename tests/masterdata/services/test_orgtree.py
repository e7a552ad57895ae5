"""The org-unit closure table follows every change of the tree; cycles are refused."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from masterdata.models import OrgUnit, OrgUnitClosure
from masterdata.services.orgtree import TreeCycleError, is_descendant, place_in_tree, rebuild_closure, subtree_ids
from tests.factories import OrgUnitFactory

pytestmark = pytest.mark.django_db


def closure() -> set[tuple[str, str, int]]:
    rows = OrgUnitClosure.objects.values_list("ancestor__code", "descendant__code", "depth")
    return set(rows)


def test_creating_units_links_each_to_itself_and_every_ancestor(org):
    assert closure() == {
        ("GRP", "GRP", 0),
        ("A", "A", 0),
        ("A-SALES", "A-SALES", 0),
        ("B", "B", 0),
        ("GRP", "A", 1),
        ("GRP", "B", 1),
        ("GRP", "A-SALES", 2),
        ("A", "A-SALES", 1),
    }


def test_moving_a_unit_moves_its_whole_subtree(org):
    team = OrgUnitFactory(code="A-SALES-N", parent=org.a_sales)
    sales = OrgUnit.objects.get(pk=org.a_sales.pk)
    sales.parent = org.b
    sales.save()
    assert closure() >= {("B", "A-SALES", 1), ("B", "A-SALES-N", 2), ("GRP", "A-SALES-N", 3)}
    assert not {("A", "A-SALES", 1), ("A", "A-SALES-N", 2)} & closure()
    assert set(subtree_ids(org.b.pk).values_list("descendant_id", flat=True)) == {org.b.pk, sales.pk, team.pk}


def test_making_a_unit_a_root_unlinks_it_from_its_former_ancestors(org):
    company_a = OrgUnit.objects.get(pk=org.a.pk)
    company_a.parent = None
    company_a.save()
    assert not is_descendant(org.a_sales.pk, of=org.group.pk)
    assert is_descendant(org.a_sales.pk, of=org.a.pk)


def test_saving_a_unit_without_moving_it_leaves_the_closure_alone(org, django_assert_num_queries):
    company_a = OrgUnit.objects.get(pk=org.a.pk)
    company_a.name = "Company A Ltd"
    before = closure()
    with django_assert_num_queries(4):  # savepoint, UPDATE, history INSERT, release
        company_a.save()
    assert closure() == before


@pytest.mark.parametrize("new_parent", ["a", "a_sales"])
def test_clean_refuses_to_place_a_unit_under_itself_or_its_subtree(org, new_parent):
    company_a = OrgUnit.objects.get(pk=org.a.pk)
    company_a.parent = getattr(org, new_parent)
    with pytest.raises(ValidationError) as excinfo:
        company_a.clean()
    assert "parent" in excinfo.value.message_dict


@pytest.mark.parametrize("new_parent", ["a", "a_sales"])
def test_saving_a_cycle_is_refused_and_changes_nothing(org, new_parent):
    company_a = OrgUnit.objects.get(pk=org.a.pk)
    company_a.parent = getattr(org, new_parent)
    before = closure()
    with pytest.raises(TreeCycleError):
        company_a.save()
    assert closure() == before
    assert OrgUnit.objects.get(pk=org.a.pk).parent_id == org.group.pk


def test_place_in_tree_itself_refuses_a_cycle(org):
    group = OrgUnit.objects.get(pk=org.group.pk)
    group.parent_id = org.a_sales.pk
    with pytest.raises(TreeCycleError):
        place_in_tree(group)


def test_rebuilding_the_closure_gives_what_the_incremental_updates_gave(org):
    OrgUnitFactory(code="B-HR", parent=org.b)
    sales = OrgUnit.objects.get(pk=org.a_sales.pk)
    sales.parent = org.b
    sales.save()
    incremental = closure()
    OrgUnitClosure.objects.all().delete()
    assert rebuild_closure() == len(incremental)
    assert closure() == incremental


def test_rebuilding_repairs_a_tree_changed_behind_the_models_back(org):
    OrgUnit.objects.filter(pk=org.a_sales.pk).update(parent=org.b)  # bulk update: no save()
    rebuild_closure()
    assert is_descendant(org.a_sales.pk, of=org.b.pk)
    assert not is_descendant(org.a_sales.pk, of=org.a.pk)


def test_rebuilding_refuses_a_tree_with_a_cycle(org):
    OrgUnit.objects.filter(pk=org.group.pk).update(parent=org.a_sales)
    with pytest.raises(TreeCycleError):
        rebuild_closure()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers by itself")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_moves_cannot_close_a_cycle():
    """X under Y and, at the same time, Y under X: the second move waits for the first and is refused."""
    root = OrgUnitFactory(code="ROOT")
    x = OrgUnitFactory(code="X", parent=root)
    y = OrgUnitFactory(code="Y", parent=root)
    first_saved, release_first = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def move(unit_pk: int, parent_pk: int, name: str, hold: bool) -> None:
        try:
            with transaction.atomic():
                unit = OrgUnit.objects.get(pk=unit_pk)
                unit.parent_id = parent_pk
                unit.save()
                if hold:
                    first_saved.set()
                    release_first.wait(timeout=10)
            outcome[name] = "moved"
        except TreeCycleError as exc:
            outcome[name] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=move, args=(x.pk, y.pk, "first", True))
    second = threading.Thread(target=move, args=(y.pk, x.pk, "second", False))
    first.start()
    assert first_saved.wait(timeout=10)
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive(), "the second move must wait for the first to commit"
    release_first.set()
    first.join(timeout=10)
    second.join(timeout=10)

    assert outcome["first"] == "moved"
    assert isinstance(outcome["second"], TreeCycleError)
    assert OrgUnit.objects.get(pk=y.pk).parent_id == root.pk
    assert rebuild_closure() == len(closure())
