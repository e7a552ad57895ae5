"""Duplicate suspects: a steward compares a pair, merges it field by field or marks it no duplicate; and unmerges."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from masterdata.models import (
    Customer,
    DuplicateSuspect,
    GoldenStatus,
    MergeRecord,
    MergeStatus,
    SourceLink,
    SourceSystem,
    SuspectStatus,
)
from masterdata.registry import registry
from masterdata.services import access, matching, merge
from tests.factories import CustomerFactory

from .conftest import admin_url, browser
from .test_queries import count_queries, rows_shown

SUSPECTS = admin_url(DuplicateSuspect, "changelist")
MERGES = admin_url(MergeRecord, "changelist")


@pytest.fixture
def resolver_a(steward_a, org):
    access.grant(steward_a, "resolve", org.a)
    return steward_a


@pytest.fixture
def resolver_client(resolver_a):
    return browser(resolver_a)


def suspect(one, other, score: float = 92.5, owner=None) -> DuplicateSuspect:
    low, high = sorted((one.pk, other.pk))
    return DuplicateSuspect.objects.create(
        domain="customer",
        golden_id_a=low,
        golden_id_b=high,
        score=score,
        reasons={"fuzzy": {"name": score, "address": 88.0}},
        owner_org=owner or one.owner_org,
    )


@pytest.fixture
def twins(org):
    """Alpha Trading twice in company A (the CRM copy has the phone number), with a link each."""
    older = CustomerFactory(code="C-1", name="Alpha Trading", owner_org=org.a, credit_rating="AA", phone="")
    newer = CustomerFactory(code="C-2", name="Alpha Trading Co.", owner_org=org.a, credit_rating="", phone="+86 21 5")
    erp = SourceSystem.objects.create(code="erp", name="ERP")
    crm = SourceSystem.objects.create(code="crm", name="CRM")
    SourceLink.objects.create(source=erp, domain="customer", source_key="E-1", golden_id=older.pk)
    SourceLink.objects.create(source=crm, domain="customer", source_key="K-9", golden_id=newer.pk)
    return type("Twins", (), {"older": older, "newer": newer, "pair": suspect(older, newer)})


def compare_url(pair) -> str:
    return admin_url(DuplicateSuspect, "change", pair.pk)


def merge_form(pair, survivor: str = "a", reason: str = "same company", **takes) -> dict:
    data = {"survivor": survivor, "reason": reason, "_merge": "Merge"}
    for name in merge.mergeable_fields(registry.get("customer")):
        data[f"take_{name}"] = takes.get(name, survivor)
    return data


# --- the list -----------------------------------------------------------------------------------------
def test_the_list_shows_open_pairs_in_scope_with_score_and_reasons(steward_a_client, twins, customers, org):
    suspect(customers.b, CustomerFactory(code="CB-2", name="Beta Retail Ltd", owner_org=org.b))

    response = steward_a_client.get(SUSPECTS)

    assert [row.pk for row in response.context["cl"].result_list] == [twins.pair.pk]
    page = response.content.decode()
    assert "C-1 · Alpha Trading" in page and "C-2 · Alpha Trading Co." in page
    assert "92.5" in page and "name 92.5, address 88" in page


def test_decided_pairs_leave_the_list(superuser_client, twins, superuser):
    matching.mark_not_duplicate(twins.pair, superuser)

    assert rows_shown(superuser_client, SUSPECTS) == 0
    assert rows_shown(superuser_client, f"{SUSPECTS}?status=not_duplicate") == 1


@pytest.mark.parametrize("viewer", ["superuser", "steward_a"])
def test_suspect_list_queries_do_not_grow_with_rows(request, org, viewer):
    client = browser(request.getfixturevalue(viewer))

    def make(count: int) -> None:
        for _ in range(count):
            suspect(CustomerFactory(owner_org=org.a), CustomerFactory(owner_org=org.a_sales))

    make(3)
    small = count_queries(client, SUSPECTS)
    make(6)

    assert rows_shown(client, SUSPECTS) == 9
    assert count_queries(client, SUSPECTS) == small


# --- compare ----------------------------------------------------------------------------------------
def test_the_compare_page_shows_both_records_side_by_side_with_their_links(resolver_client, twins):
    response = resolver_client.get(compare_url(twins.pair))

    rows = {row["name"]: row for row in response.context["rows"]}
    assert (rows["name"]["a"], rows["name"]["b"], rows["name"]["differs"]) == (
        "Alpha Trading",
        "Alpha Trading Co.",
        True,
    )
    assert rows["country"]["differs"] is False
    assert (rows["phone"]["default"], rows["credit_rating"]["default"]) == ("b", "a")  # empty values are not taken
    page = response.content.decode()
    assert "erp: E-1" in page and "crm: K-9" in page
    assert 'name="_merge"' in page and 'name="_not_duplicate"' in page


def test_a_steward_of_another_company_cannot_open_the_pair_by_url(steward_b_client, twins):
    response = steward_b_client.get(compare_url(twins.pair))

    assert response.status_code == 302
    assert "Alpha" not in steward_b_client.get(response.url).content.decode()


def test_a_record_of_another_company_stays_hidden_in_a_pair_across_companies(resolver_client, twins, customers):
    cross = suspect(twins.older, customers.b, owner=twins.older.owner_org)

    page = resolver_client.get(compare_url(cross)).content.decode()

    assert "Beta Retail" not in page and "CB-1" not in page
    assert "outside your scope" in page
    assert 'name="_merge"' not in page


def test_a_steward_without_the_resolve_grant_compares_but_cannot_decide(steward_a_client, twins):
    page = steward_a_client.get(compare_url(twins.pair)).content.decode()
    assert "Alpha Trading Co." in page and 'name="_merge"' not in page

    steward_a_client.post(compare_url(twins.pair), merge_form(twins.pair))

    assert Customer.objects.get(pk=twins.newer.pk).status == GoldenStatus.ACTIVE


# --- merge -------------------------------------------------------------------------------------------
def test_merging_from_the_compare_page_takes_the_chosen_values(resolver_client, resolver_a, twins):
    form = merge_form(twins.pair, survivor="a", reason="one company, two systems", phone="b")

    response = resolver_client.post(compare_url(twins.pair), form)

    record = MergeRecord.objects.get()
    assert response.status_code == 302 and response.url == admin_url(MergeRecord, "change", record.pk)
    survivor, loser = Customer.objects.get(pk=twins.older.pk), Customer.objects.get(pk=twins.newer.pk)
    assert (survivor.name, survivor.phone, survivor.credit_rating) == ("Alpha Trading", "+86 21 5", "AA")
    assert (loser.status, loser.merged_into_id) == (GoldenStatus.MERGED, survivor.pk)
    assert SourceLink.objects.filter(golden_id=survivor.pk).count() == 2
    twins.pair.refresh_from_db()
    assert twins.pair.status == SuspectStatus.MERGED
    assert "one company, two systems" in LogEntry.objects.get(object_id=str(twins.pair.pk)).get_change_message()


def test_the_newer_record_can_survive(resolver_client, twins):
    resolver_client.post(compare_url(twins.pair), merge_form(twins.pair, survivor="b", credit_rating="a"))

    survivor = Customer.objects.get(pk=twins.newer.pk)
    assert (survivor.code, survivor.credit_rating, survivor.phone) == ("C-2", "AA", "+86 21 5")
    assert Customer.objects.get(pk=twins.older.pk).merged_into_id == survivor.pk


def test_a_merge_without_a_reason_is_refused(resolver_client, twins):
    response = resolver_client.post(compare_url(twins.pair), merge_form(twins.pair, reason=" "))

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert MergeRecord.objects.count() == 0


def test_not_a_duplicate_is_remembered_and_never_suggested_again(resolver_client, resolver_a, twins):
    response = resolver_client.post(compare_url(twins.pair), {"nd-reason": "different branches", "_not_duplicate": "1"})

    assert response.status_code == 302
    twins.pair.refresh_from_db()
    assert (twins.pair.status, twins.pair.decided_by) == (SuspectStatus.NOT_DUPLICATE, resolver_a)
    assert "different branches" in LogEntry.objects.get(object_id=str(twins.pair.pk)).get_change_message()
    matching.find_duplicates(registry.get("customer"), threshold=50)
    assert DuplicateSuspect.objects.filter(status=SuspectStatus.OPEN).count() == 0


def test_the_pair_page_shows_who_decided_when_and_why(resolver_client, twins):
    resolver_client.post(compare_url(twins.pair), {"nd-reason": "different branches", "_not_duplicate": "1"})

    page = resolver_client.get(compare_url(twins.pair)).content.decode()

    decisions = page[page.index('id="decisions"') :]
    assert "steward_a" in decisions and "different branches" in decisions


def test_not_a_duplicate_needs_a_reason(resolver_client, twins):
    response = resolver_client.post(compare_url(twins.pair), {"nd-reason": "", "_not_duplicate": "1"})

    assert response.status_code == 200
    twins.pair.refresh_from_db()
    assert twins.pair.status == SuspectStatus.OPEN


# --- merges and unmerge ------------------------------------------------------------------------------
@pytest.fixture
def merged(twins, resolver_a):
    return merge.merge(registry.get("customer"), twins.older, twins.newer, {"phone": "loser"}, resolver_a, "twins")


def test_the_merge_page_shows_what_moved_and_offers_the_unmerge(resolver_client, merged):
    page = resolver_client.get(admin_url(MergeRecord, "change", merged.pk)).content.decode()

    assert "crm: K-9" in page
    assert "+86 21 5" in page
    assert 'id="unmerge_form"' in page


def test_unmerging_from_the_merge_page_restores_the_records(resolver_client, resolver_a, merged, twins):
    url = admin_url(MergeRecord, "change", merged.pk)

    response = resolver_client.post(url, {"reason": "not the same after all"})

    assert response.status_code == 302
    merged.refresh_from_db()
    assert (merged.status, merged.unmerged_by) == (MergeStatus.UNMERGED, resolver_a)
    assert Customer.objects.get(pk=twins.newer.pk).status == GoldenStatus.ACTIVE
    assert Customer.objects.get(pk=twins.older.pk).phone == ""
    assert "not the same after all" in LogEntry.objects.get(object_id=str(merged.pk)).get_change_message()


def test_an_unmerge_without_a_reason_is_refused(resolver_client, merged, twins):
    response = resolver_client.post(admin_url(MergeRecord, "change", merged.pk), {"reason": ""})

    assert response.status_code == 200
    assert Customer.objects.get(pk=twins.newer.pk).status == GoldenStatus.MERGED


def test_a_steward_of_another_company_neither_sees_nor_undoes_the_merge(steward_b, org, merged, twins):
    access.grant(steward_b, "resolve", org.b)
    client = browser(steward_b)

    assert rows_shown(client, MERGES) == 0
    response = client.post(admin_url(MergeRecord, "change", merged.pk), {"reason": "mine"})

    assert response.status_code == 302
    assert Customer.objects.get(pk=twins.newer.pk).status == GoldenStatus.MERGED


@pytest.mark.parametrize("viewer", ["superuser", "steward_a"])
def test_merge_list_queries_do_not_grow_with_rows(request, org, superuser, viewer):
    client = browser(request.getfixturevalue(viewer))
    customer = registry.get("customer")

    def make(count: int) -> None:
        for _ in range(count):
            one, other = CustomerFactory(owner_org=org.a), CustomerFactory(owner_org=org.a)
            merge.merge(customer, one, other, {}, superuser, "dup")

    make(3)
    small = count_queries(client, MERGES)
    make(6)

    assert rows_shown(client, MERGES) == 9
    assert count_queries(client, MERGES) == small
