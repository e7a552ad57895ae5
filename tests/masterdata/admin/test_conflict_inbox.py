"""The conflict inbox: a steward lists, compares and resolves conflicts of their scope, singly or in bulk."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from masterdata.admin.worklist import OwnerOrgFilter
from masterdata.models import ChangeEvent, Conflict, ConflictStatus, Customer, SourceSystem
from masterdata.services import access, golden
from masterdata.services.conflicts import candidate
from tests.factories import MaterialFactory, UserFactory

from .conftest import admin_url, browser
from .test_queries import count_queries, rows_shown

INBOX = admin_url(Conflict, "changelist")
SEEN = "2026-11-20T08:00:00+00:00"


@pytest.fixture
def sources(db):
    return {code: SourceSystem.objects.create(code=code, name=code.upper()) for code in ("erp", "crm", "shop")}


@pytest.fixture
def resolver_a(steward_a, org):
    access.grant(steward_a, "resolve", org.a)
    return steward_a


@pytest.fixture
def resolver_client(resolver_a):
    return browser(resolver_a)


def open_conflict(record, field: str, offers: dict[str, object], *, days_old: int = 0) -> Conflict:
    """A conflict on ``field`` of ``record`` with one candidate per source (ERP trusted 80, others 60)."""
    return Conflict.objects.create(
        domain="customer",
        golden_id=record.pk,
        field=field,
        reason="equal_trust",
        golden_value=getattr(record, field),
        candidates=[candidate(src, value, SEEN, 80 if src == "erp" else 60) for src, value in offers.items()],
        owner_org_id=record.owner_org_id,
        opened_at=timezone.now() - timedelta(days=days_old),
    )


@pytest.fixture
def inbox(customers, sources):
    """Rating conflicts on both A customers and B's, a name conflict on A's, each with an ERP and a CRM offer."""
    return type(
        "Inbox",
        (),
        {
            "rating_a": open_conflict(customers.a, "credit_rating", {"erp": "AA", "crm": "B"}),
            "rating_a_sales": open_conflict(customers.a_sales, "credit_rating", {"erp": "A", "crm": "C"}, days_old=10),
            "name_a": open_conflict(customers.a, "name", {"crm": "Alpha Trading Ltd", "shop": "Alpha Online"}),
            "rating_b": open_conflict(customers.b, "credit_rating", {"erp": "BB", "crm": "B"}),
        },
    )


def listed(client, query: str = "") -> set[int]:
    response = client.get(f"{INBOX}{query}")
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


# --- the list -----------------------------------------------------------------------------------------
def test_the_inbox_lists_the_open_conflicts_of_the_stewards_companies_only(steward_a_client, inbox):
    assert listed(steward_a_client) == {inbox.rating_a.pk, inbox.rating_a_sales.pk, inbox.name_a.pk}


def test_the_inbox_shows_record_field_sources_and_age(steward_a_client, inbox):
    page = steward_a_client.get(INBOX).content.decode()

    assert "CA-1" in page and "credit_rating" in page
    assert "erp, crm" in page
    assert "1\xa0week" in page  # the ten-day-old conflict
    assert "CB-1" not in page


def test_decided_conflicts_leave_the_inbox_but_can_be_listed(superuser_client, inbox, superuser):
    Conflict.objects.filter(pk=inbox.name_a.pk).update(status=ConflictStatus.DISMISSED)

    assert inbox.name_a.pk not in listed(superuser_client)
    assert listed(superuser_client, "?status=dismissed") == {inbox.name_a.pk}
    assert len(listed(superuser_client, "?status=all")) == 4


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?field=credit_rating", {"rating_a", "rating_a_sales", "rating_b"}),
        ("?source=shop", {"name_a"}),
        ("?source=erp&field=credit_rating", {"rating_a", "rating_a_sales", "rating_b"}),
        ("?domain=customer", {"rating_a", "rating_a_sales", "name_a", "rating_b"}),
        ("?domain=supplier", set()),
        ("?age=1m", {"rating_a_sales"}),
        ("?age=1d", {"rating_a", "name_a", "rating_b"}),
    ],
)
def test_the_inbox_filters_by_field_source_domain_and_age(superuser_client, inbox, query, expected):
    assert listed(superuser_client, query) == {getattr(inbox, name).pk for name in expected}


def test_the_owner_filter_takes_the_org_unit_and_everything_below(superuser_client, inbox, org):
    assert listed(superuser_client, f"?owner_org={org.a.pk}") == {
        inbox.rating_a.pk,
        inbox.rating_a_sales.pk,
        inbox.name_a.pk,
    }
    assert listed(superuser_client, f"?owner_org={org.b.pk}") == {inbox.rating_b.pk}


def test_the_owner_filter_offers_only_units_in_scope(steward_a_client, inbox):
    response = steward_a_client.get(INBOX)

    owner_spec = next(s for s in response.context["cl"].filter_specs if isinstance(s, OwnerOrgFilter))
    assert {label for _, label in owner_spec.lookup_choices} == {"A · Company A", "A-SALES · A Sales"}


def test_the_admin_index_offers_the_work_lists_to_a_steward(steward_a_client):
    response = steward_a_client.get(reverse("admin:index"))

    names = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert {"Conflict", "DuplicateSuspect", "MergeRecord"} <= names


def test_staff_without_any_domain_permission_do_not_see_the_inbox(inbox):
    outsider = UserFactory(username="outsider", is_staff=True)

    assert browser(outsider).get(INBOX).status_code == 403


def test_a_steward_without_any_grant_sees_only_conflicts_of_domains_without_owners(stewards_group, inbox):
    material = MaterialFactory(code="M-1")
    on_material = Conflict.objects.create(domain="material", golden_id=material.pk, field="name", reason="equal_trust")
    ungranted = UserFactory(username="ungranted", is_staff=True)
    ungranted.groups.add(stewards_group)

    assert listed(browser(ungranted)) == {on_material.pk}


@pytest.mark.parametrize("viewer", ["superuser", "steward_a"])
def test_inbox_queries_do_not_grow_with_rows(request, customers, sources, viewer):
    client = browser(request.getfixturevalue(viewer))
    for n in range(3):
        record = Customer.objects.create(code=f"Q-{n}", name=f"Q {n}", owner_org=customers.a.owner_org)
        open_conflict(record, "credit_rating", {"erp": "A", "crm": "B"})
    small = count_queries(client, INBOX)

    for n in range(3, 9):
        record = Customer.objects.create(code=f"Q-{n}", name=f"Q {n}", owner_org=customers.a.owner_org)
        open_conflict(record, "credit_rating", {"erp": "A", "crm": "B"})

    assert rows_shown(client, INBOX) == 9
    assert count_queries(client, INBOX) == small


# --- the side-by-side page ------------------------------------------------------------------------
def page_of(conflict) -> str:
    return admin_url(Conflict, "change", conflict.pk)


def test_the_page_shows_the_golden_value_every_candidate_and_the_fields_history(resolver_client, inbox, customers):
    golden.update(customers.a, {"credit_rating": "A+"}, golden.ChangeContext(reason="annual review"))

    page = resolver_client.get(page_of(inbox.rating_a)).content.decode()

    assert "Golden value now" in page and "A+" in page
    rows = [" ".join(row.split()) for row in re.findall(r'<tr class="candidate.*?</tr>', page, re.S)]
    assert len(rows) == 2
    for row, (source, value, trust) in zip(rows, [("erp", "AA", "80"), ("crm", "B", "60")], strict=True):
        assert f">{source}</label>" in row and f">{value}</td>" in row and f"<td>{trust}</td>" in row
        assert "Nov. 20, 2026" in row  # observed time, as the admin formats dates
    assert "annual review" in page  # the field's history: who changed it, why
    assert 'name="choice"' in page and 'name="reason"' in page


def test_a_steward_of_another_company_cannot_open_the_conflict_by_url(steward_b_client, inbox):
    response = steward_b_client.get(page_of(inbox.rating_a))

    assert response.status_code == 302
    assert "Alpha" not in steward_b_client.get(response.url).content.decode()


def test_a_steward_of_another_company_cannot_resolve_by_posting(steward_b, org, inbox):
    access.grant(steward_b, "resolve", org.b)

    response = browser(steward_b).post(page_of(inbox.rating_a), {"choice": "0", "reason": "mine now"})

    assert response.status_code == 302
    inbox.rating_a.refresh_from_db()
    assert inbox.rating_a.status == ConflictStatus.OPEN


def test_picking_a_candidate_resolves_with_history_event_and_admin_log(resolver_client, resolver_a, inbox, customers):
    response = resolver_client.post(page_of(inbox.rating_a), {"choice": "0", "reason": "ERP is the rating master"})

    assert response.status_code == 302
    record = Customer.objects.get(pk=customers.a.pk)
    assert (record.credit_rating, record.version) == ("AA", 2)
    row = record.history.latest("history_id")
    assert (row.history_user, row.history_change_reason) == (resolver_a, "ERP is the rating master")
    assert ChangeEvent.objects.filter(golden_id=record.pk, domain="customer").latest("id").changed_fields == [
        "credit_rating"
    ]
    inbox.rating_a.refresh_from_db()
    assert (inbox.rating_a.status, inbox.rating_a.resolved_by) == (ConflictStatus.RESOLVED, resolver_a)
    entry = LogEntry.objects.get(object_id=str(inbox.rating_a.pk))
    assert "ERP is the rating master" in entry.get_change_message()


def test_typing_a_value_resolves_with_it(resolver_client, inbox, customers):
    resolver_client.post(
        page_of(inbox.name_a), {"choice": "typed", "typed_value": "Alpha Trading Group", "reason": "legal name"}
    )

    assert Customer.objects.get(pk=customers.a.pk).name == "Alpha Trading Group"


def test_keeping_the_value_with_the_lock_locks_the_field(resolver_client, inbox, customers):
    resolver_client.post(page_of(inbox.name_a), {"choice": "keep", "lock": "on", "reason": "name agreed with sales"})

    record = Customer.objects.get(pk=customers.a.pk)
    assert (record.name, record.locked_fields) == ("Alpha Trading", ["name"])
    inbox.name_a.refresh_from_db()
    assert inbox.name_a.status == ConflictStatus.RESOLVED


def test_keeping_the_value_without_the_lock_dismisses(resolver_client, inbox, customers):
    resolver_client.post(page_of(inbox.name_a), {"choice": "keep", "reason": "display names only"})

    inbox.name_a.refresh_from_db()
    assert (inbox.name_a.status, inbox.name_a.resolution_note) == (ConflictStatus.DISMISSED, "display names only")
    assert Customer.objects.get(pk=customers.a.pk).version == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_decision_without_a_reason_is_refused(resolver_client, inbox, reason):
    response = resolver_client.post(page_of(inbox.rating_a), {"choice": "0", "reason": reason})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    inbox.rating_a.refresh_from_db()
    assert inbox.rating_a.status == ConflictStatus.OPEN


def test_an_invalid_typed_value_is_shown_as_an_error_and_nothing_changes(resolver_client, inbox, customers):
    conflict = open_conflict(customers.a, "credit_limit", {"erp": "1000.00", "crm": "2000.00"})

    response = resolver_client.post(page_of(conflict), {"choice": "typed", "typed_value": "lots", "reason": "x"})

    assert response.status_code == 200
    assert "decimal" in response.content.decode()
    assert Customer.objects.get(pk=customers.a.pk).version == 1
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN


def test_a_steward_without_the_resolve_grant_sees_the_conflict_but_cannot_decide(steward_a_client, inbox):
    page = steward_a_client.get(page_of(inbox.rating_a))
    assert page.status_code == 200
    assert 'name="reason"' not in page.content.decode()

    steward_a_client.post(page_of(inbox.rating_a), {"choice": "0", "reason": "try anyway"})

    inbox.rating_a.refresh_from_db()
    assert inbox.rating_a.status == ConflictStatus.OPEN


# --- bulk decision ----------------------------------------------------------------------------------
def bulk(client, conflicts, query: str = "", **step):
    data = {"action": "take_source_for_selected", "_selected_action": [c.pk for c in conflicts], **step}
    if "index" not in step and not step:
        data["index"] = 0  # the first post comes from the changelist's own action form
    return client.post(f"{INBOX}{query}", data)


def test_bulk_take_source_first_asks_which_source_and_why(resolver_client, inbox):
    response = bulk(resolver_client, [inbox.rating_a, inbox.rating_a_sales])

    assert response.status_code == 200
    assert response.template_name == "admin/masterdata/conflict/bulk_take_source.html"
    assert [code for code, _ in response.context["form"].fields["source"].choices] == ["crm", "erp"]


def test_the_preview_shows_what_will_change_and_changes_nothing(resolver_client, inbox, customers):
    response = bulk(
        resolver_client,
        [inbox.rating_a, inbox.rating_a_sales, inbox.name_a],
        source="erp",
        reason="ERP owns ratings",
        _preview="1",
    )

    rows = {row["conflict"].pk: row for row in response.context["preview"]}
    assert (rows[inbox.rating_a.pk]["current"], rows[inbox.rating_a.pk]["new"]) == ("A", "AA")
    assert rows[inbox.rating_a.pk]["action"] == "change"
    assert rows[inbox.rating_a_sales.pk]["action"] == "close"  # the golden rating is already the ERP's "A"
    assert (rows[inbox.name_a.pk]["action"], rows[inbox.name_a.pk]["why"]) == ("skip", "erp offered no value")
    assert Conflict.objects.filter(status=ConflictStatus.OPEN).count() == 4
    assert Customer.objects.get(pk=customers.a.pk).version == 1


def test_confirming_resolves_every_conflict_the_source_took_part_in(resolver_client, resolver_a, inbox, customers):
    selected = [inbox.rating_a, inbox.rating_a_sales, inbox.name_a]
    step = {"source": "erp", "reason": "ERP owns ratings", "lock": "on"}

    response = bulk(resolver_client, selected, _confirm="1", previewed_source="erp", **step)

    assert response.status_code == 302
    record = Customer.objects.get(pk=customers.a.pk)
    assert (record.credit_rating, record.locked_fields) == ("AA", ["credit_rating"])
    assert record.history.latest("history_id").history_change_reason == "ERP owns ratings"
    assert Customer.objects.get(pk=customers.a_sales.pk).credit_rating == "A"
    statuses = dict(Conflict.objects.values_list("pk", "status"))
    assert statuses[inbox.rating_a.pk] == statuses[inbox.rating_a_sales.pk] == ConflictStatus.RESOLVED
    assert statuses[inbox.name_a.pk] == ConflictStatus.OPEN
    assert LogEntry.objects.filter(user=resolver_a).count() == 2


def test_a_source_changed_after_the_preview_is_previewed_again_not_applied(resolver_client, inbox):
    response = bulk(resolver_client, [inbox.rating_a], source="crm", reason="r", _confirm="1", previewed_source="erp")

    assert response.status_code == 200
    assert response.context["preview"][0]["new"] == "B"
    inbox.rating_a.refresh_from_db()
    assert inbox.rating_a.status == ConflictStatus.OPEN


def test_bulk_without_a_reason_is_refused(resolver_client, inbox):
    response = bulk(resolver_client, [inbox.rating_a], source="erp", reason=" ", _confirm="1", previewed_source="erp")

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    inbox.rating_a.refresh_from_db()
    assert inbox.rating_a.status == ConflictStatus.OPEN


def test_bulk_over_the_whole_filter_takes_every_matching_conflict(superuser_client, inbox):
    """ "Take ERP for all credit_rating conflicts in this filter": select across all pages of the filter."""
    data = {
        "action": "take_source_for_selected",
        "select_across": "1",
        "index": "0",
        "_selected_action": [inbox.rating_a.pk],
    }
    first = superuser_client.post(f"{INBOX}?field=credit_rating", data)

    assert {c.pk for c in first.context["selected"]} == {inbox.rating_a.pk, inbox.rating_a_sales.pk, inbox.rating_b.pk}


def test_bulk_skips_conflicts_outside_the_resolve_scope(steward_a, org, inbox, customers):
    access.grant(steward_a, "resolve", org.a_sales)  # only the sales department, not all of company A
    client = browser(steward_a)

    response = bulk(client, [inbox.rating_a, inbox.rating_a_sales], source="erp", reason="r", _preview="1")

    rows = {row["conflict"].pk: row for row in response.context["preview"]}
    assert (rows[inbox.rating_a.pk]["action"], rows[inbox.rating_a.pk]["why"]) == ("skip", "outside your scope")
    assert rows[inbox.rating_a_sales.pk]["action"] == "close"


# --- search and the admin log ---------------------------------------------------------------------
def test_the_inbox_searches_by_record_code_as_well_as_field(superuser_client, inbox):
    assert listed(superuser_client, "?q=CA-1") == {inbox.rating_a.pk, inbox.name_a.pk}
    assert listed(superuser_client, "?q=ca-2") == {inbox.rating_a_sales.pk}  # codes are upper case in the hub
    assert listed(superuser_client, "?q=credit") == {inbox.rating_a.pk, inbox.rating_a_sales.pk, inbox.rating_b.pk}


def test_a_code_search_stays_within_the_stewards_scope(steward_a_client, inbox):
    assert listed(steward_a_client, "?q=CB-1") == set()


def test_a_code_search_costs_the_same_queries_for_more_matches(superuser_client, customers, sources):
    fields = ["name", "address", "country", "phone", "email", "currency", "credit_rating", "tax_id"]
    for name in fields[:2]:
        open_conflict(customers.a, name, {"erp": "A", "crm": "B"})
    few = count_queries(superuser_client, f"{INBOX}?q=CA-1")
    for name in fields[2:]:
        open_conflict(customers.a, name, {"erp": "A", "crm": "B"})

    assert rows_shown(superuser_client, f"{INBOX}?q=CA-1") == 8
    assert count_queries(superuser_client, f"{INBOX}?q=CA-1") == few


def test_the_admin_log_names_the_conflict_as_the_decision_left_it(resolver_client, inbox):
    resolver_client.post(page_of(inbox.rating_a), {"choice": "0", "reason": "ERP is the rating master"})
    resolver_client.post(page_of(inbox.name_a), {"choice": "keep", "reason": "the name is right"})

    reprs = set(LogEntry.objects.values_list("object_repr", flat=True))
    assert reprs == {"customer CA-1.credit_rating (resolved)", "customer CA-1.name (dismissed)"}
