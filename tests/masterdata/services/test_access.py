"""Org-unit scope: grants on an org unit reach its subtree and the records owned there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from masterdata.models import Customer, Material, OrgUnit
from masterdata.registry import registry
from masterdata.services import access
from tests.factories import CustomerFactory, MaterialFactory, UserFactory

pytestmark = pytest.mark.django_db

CUSTOMER = registry.get("customer")


def visible(user, action="view", domain=CUSTOMER) -> set[str]:
    queryset = domain.model_class.objects.all()
    return set(access.restrict(user, domain, queryset, action).values_list("code", flat=True))


def with_model_perms(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # fresh instance: no cached permissions


@pytest.fixture
def unowned(customers):
    return CustomerFactory(code="C-NONE", owner_org=None)


def test_a_grant_on_a_company_reaches_its_departments_records(steward_a, customers):
    assert visible(steward_a) == {"CA-1", "CA-2"}


def test_a_grant_on_a_department_does_not_reach_up_to_its_company(org, customers):
    user = UserFactory()
    access.grant(user, "view", org.a_sales)
    assert visible(user) == {"CA-2"}


def test_a_grant_to_a_group_reaches_every_member(org, customers):
    user = UserFactory()
    team = Group.objects.create(name="B stewards")
    user.groups.add(team)
    access.grant(team, "view", org.b)
    assert visible(user) == {"CB-1"}


def test_own_and_group_grants_add_up(org, customers):
    user = UserFactory()
    team = Group.objects.create(name="Sales stewards")
    user.groups.add(team)
    access.grant(user, "view", org.b)
    access.grant(team, "view", org.a_sales)
    assert visible(user) == {"CB-1", "CA-2"}


def test_a_global_view_orgunit_permission_reaches_every_record_including_unowned_ones(customers, unowned):
    user = with_model_perms(UserFactory(), "view_orgunit")
    assert visible(user) == {"CA-1", "CA-2", "CB-1", "C-NONE"}


def test_a_superuser_reaches_everything(superuser, customers, unowned):
    assert visible(superuser) == {"CA-1", "CA-2", "CB-1", "C-NONE"}
    assert visible(superuser, "change") == {"CA-1", "CA-2", "CB-1", "C-NONE"}


def test_being_allowed_to_change_a_subtree_implies_seeing_it(org, customers):
    user = UserFactory()
    access.grant(user, "change", org.b)
    assert visible(user, "view") == {"CB-1"}
    assert visible(user, "change") == {"CB-1"}


def test_being_allowed_to_see_a_subtree_does_not_allow_changing_it(org, customers):
    user = UserFactory()
    access.grant(user, "view", org.b)
    assert visible(user, "change") == set()


def test_an_inactive_user_reaches_nothing_despite_grants(steward_a, customers):
    steward_a.is_active = False
    steward_a.save()
    assert visible(steward_a) == set()
    assert not access.has_domain_permission(steward_a, CUSTOMER, "view")
    assert not access.can_act_on(steward_a, customers.a)
    assert not access.unit_in_scope(steward_a, customers.a.owner_org_id, "view")


def test_an_inactive_superuser_reaches_nothing(superuser, customers):
    superuser.is_active = False
    assert visible(superuser) == set()


def test_materials_belong_to_the_whole_group_and_are_not_narrowed_by_scope(steward_a):
    MaterialFactory(code="M-1")
    MaterialFactory(code="M-2")
    material = registry.get("material")
    assert visible(steward_a, domain=material) == {"M-1", "M-2"}
    assert access.can_act_on(steward_a, Material.objects.get(code="M-1"), "change")


def test_org_units_are_scoped_to_the_granted_subtree(steward_a, org):
    assert visible(steward_a, domain=registry.get("org_unit")) == {"A", "A-SALES"}
    assert access.has_domain_permission(steward_a, registry.get("org_unit"), "view")


def test_restrict_is_one_statement_with_a_subquery_and_costs_one_query(steward_a, customers):
    scoped = access.restrict(steward_a, CUSTOMER, Customer.objects.all())
    sql = str(scoped.query)
    assert sql.count("SELECT") >= 3  # the records, the closure, the grants
    assert "IN (SELECT" in sql
    with CaptureQueriesContext(connection) as queries:
        codes = {c.code for c in scoped}
    assert len(queries) == 1
    assert codes == {"CA-1", "CA-2"}


def test_revoking_a_grant_takes_the_subtree_away_again(org, customers):
    user = UserFactory()
    access.grant(user, "view", org.a)
    access.grant(user, "view", org.b)
    access.revoke(user, "view", org.a)
    assert visible(user) == {"CB-1"}
    assert access.grants_of(user) == [("view", OrgUnit.objects.get(pk=org.b.pk))]


def test_a_grant_follows_the_tree_when_a_department_moves(org, customers):
    user = UserFactory()
    access.grant(user, "view", org.b)
    sales = OrgUnit.objects.get(pk=org.a_sales.pk)
    sales.parent = org.b
    sales.save()
    assert visible(user) == {"CB-1", "CA-2"}


def test_can_act_on_needs_the_model_permission_and_the_scope(steward_a, steward_b, customers):
    assert access.can_act_on(steward_a, customers.a_sales, "change")
    assert not access.can_act_on(steward_b, customers.a_sales, "view")
    no_model_perms = UserFactory()
    access.grant(no_model_perms, "change", customers.a.owner_org)
    assert not access.can_act_on(no_model_perms, customers.a, "view")


def test_records_without_an_owner_are_in_scope_only_for_group_wide_users(steward_a, superuser):
    assert not access.unit_in_scope(steward_a, None, "change")
    assert access.unit_in_scope(superuser, None, "change")


def test_grants_of_a_group_list_its_actions_and_units(org):
    team = Group.objects.create(name="Resolvers")
    access.grant(team, "resolve", org.a)
    access.grant(team, "view_sensitive", org.b)
    assert sorted((action, unit.code) for action, unit in access.grants_of(team)) == [
        ("resolve", "A"),
        ("view_sensitive", "B"),
    ]
