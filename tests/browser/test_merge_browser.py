"""A steward compares two suspected duplicates, merges them field by field, and undoes the merge."""

from __future__ import annotations

import pytest
from django.urls import reverse

from masterdata.models import Customer, DuplicateSuspect, GoldenStatus, MergeRecord, SourceLink, SourceSystem
from masterdata.services import access
from tests.browser.conftest import login, screenshot
from tests.factories import CustomerFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def twins(steward_a, org):
    access.grant(steward_a, "resolve", org.a)
    older = CustomerFactory(code="C-1", name="Alpha Trading", owner_org=org.a, credit_rating="AA", phone="")
    newer = CustomerFactory(code="C-2", name="Alpha Trading Co.", owner_org=org.a, credit_rating="", phone="+86 21 5")
    crm = SourceSystem.objects.create(code="crm", name="Sales CRM")
    SourceLink.objects.create(source=crm, domain="customer", source_key="K-9", golden_id=newer.pk)
    pair = DuplicateSuspect.objects.create(
        domain="customer",
        golden_id_a=older.pk,
        golden_id_b=newer.pk,
        score=92.5,
        reasons={"fuzzy": {"name": 92.5, "address": 88.0}},
        owner_org=org.a,
    )
    return type("Twins", (), {"older": older, "newer": newer, "pair": pair})


def test_a_steward_merges_and_unmerges_a_duplicate(page, steward_a, twins):
    login(page, steward_a)
    page.goto(reverse("admin:masterdata_duplicatesuspect_changelist"))
    assert "name 92.5, address 88" in page.locator("#result_list").inner_text()
    screenshot(page, "duplicates-list")

    page.get_by_role("link", name="Compare").click()
    page.wait_for_selector("#compare")
    assert page.locator("#take_phone_b").is_checked()  # only the newer record has a phone
    page.check("#take_name_b")
    screenshot(page, "duplicates-compare")

    page.fill("#merge_form #id_reason", "Same company, entered in the CRM again")
    page.click("input[name=_merge]")
    page.wait_for_url("**/masterdata/mergerecord/*/change/")
    assert "Merged C-2 into C-1" in page.locator(".messagelist").inner_text()
    screenshot(page, "merge-done")
    survivor = Customer.objects.get(pk=twins.older.pk)
    assert (survivor.name, survivor.phone, survivor.credit_rating) == ("Alpha Trading Co.", "+86 21 5", "AA")
    assert SourceLink.objects.get(source_key="K-9").golden_id == survivor.pk

    page.fill("#unmerge_form #id_reason", "Two legal entities after all")
    with page.expect_navigation():
        page.click("input[name=_unmerge]")
    page.wait_for_selector(".messagelist")
    assert "Unmerged C-2 from C-1" in page.locator(".messagelist").inner_text()
    screenshot(page, "merge-undone")
    assert Customer.objects.get(pk=twins.newer.pk).status == GoldenStatus.ACTIVE
    assert Customer.objects.get(pk=twins.older.pk).name == "Alpha Trading"
    assert SourceLink.objects.get(source_key="K-9").golden_id == twins.newer.pk
    assert MergeRecord.objects.get().status == "unmerged"


def test_a_steward_marks_a_pair_as_not_a_duplicate(page, steward_a, twins):
    login(page, steward_a)
    page.goto(reverse("admin:masterdata_duplicatesuspect_change", args=[twins.pair.pk]))

    page.fill("#id_nd-reason", "Different branches of the group")
    with page.expect_navigation():
        page.click("input[name=_not_duplicate]")

    page.wait_for_selector(".messagelist")
    assert "will not be suggested again" in page.locator(".messagelist").inner_text()
    assert "0 duplicate suspects" in page.locator("#changelist").inner_text()  # the open list is empty now
    screenshot(page, "duplicates-not-a-duplicate")
