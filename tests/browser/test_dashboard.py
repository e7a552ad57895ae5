"""The dashboard in a real browser: charts drawn without the internet, numbers leading to their lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import Delivery, FailureClass, FailureDirection, FailureStage, PushTarget, SyncRun
from masterdata.models import Conflict, DuplicateSuspect, QualityScore
from tests.browser.conftest import login, screenshot
from tests.connectors.admin.conftest import queued
from tests.factories import CustomerFactory, SourceSystemFactory, SupplierFactory

pytestmark = pytest.mark.browser


def a_fortnight_of_sync_runs() -> None:
    """Daily pulls of two sources: the ERP steady, the CRM with a bad day."""
    today = timezone.now().replace(hour=6, minute=0)
    for code, volume in (("erp", 900), ("crm", 400)):
        source = SourceSystemFactory(code=code, name=code.upper())
        for day in range(14):
            started = today - timedelta(days=day)
            failed = 35 if code == "crm" and day == 3 else day % 4
            SyncRun.objects.create(
                source=source, domain="customer", status="partial" if failed else "succeeded", started_at=started,
                finished_at=started + timedelta(seconds=20 + (day * 7) % 40), fetched=volume + (day * 37) % 250,
                failed=failed,
            )  # fmt: skip


def open_work(org) -> None:
    """Conflicts, duplicates, failures, a push backlog and quality scores in companies A and B."""
    for index, unit in enumerate([org.a, org.a, org.a_sales, org.b, org.b]):
        record = CustomerFactory(owner_org=unit)
        Conflict.objects.create(domain="customer", golden_id=record.pk, field="email", reason="equal_trust",
                                owner_org=unit)  # fmt: skip
        QualityScore.objects.create(domain="customer", golden_id=record.pk, score=60 + index * 8, owner_org=unit)
        if index % 2:
            queued(golden=record, key=f"CRM-{index}")
    supplier = SupplierFactory(owner_org=org.b)
    Conflict.objects.create(domain="supplier", golden_id=supplier.pk, field="payment_terms", reason="equal_trust",
                            owner_org=org.b)  # fmt: skip
    QualityScore.objects.create(domain="supplier", golden_id=supplier.pk, score=55, owner_org=org.b)
    first, second = CustomerFactory(owner_org=org.a), CustomerFactory(owner_org=org.a)
    DuplicateSuspect.objects.create(domain="customer", golden_id_a=first.pk, golden_id_b=second.pk, score=93,
                                    owner_org=org.a)  # fmt: skip
    target = PushTarget.objects.create(
        source=SourceSystemFactory(code="shop", name="Web shop"), domain="customer", resource="/api/customers",
        key_field="id", field_map={"code": "code"},
    )  # fmt: skip
    for record in (first, second):
        Delivery.objects.create(target=target, domain="customer", golden_id=record.pk, version=1)
    queued(target.source, golden=first, key="PUSH-1", direction=FailureDirection.OUTBOUND, push_target=target,
           stage=FailureStage.PUSH, classification=FailureClass.TRANSIENT)  # fmt: skip


def test_the_dashboard_draws_its_charts_offline_and_a_number_opens_its_list(page, live_server, superuser, org):
    a_fortnight_of_sync_runs()
    open_work(org)
    outside: list[str] = []

    def only_the_hub(route) -> None:
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_hub)

    login(page, superuser)

    assert page.locator("#dashboard svg.mdm-chart").count() >= 5
    assert page.locator("#dashboard-sync h4").all_inner_texts()[0].startswith("crm:")
    screenshot(page, "dashboard")
    screenshot(page, "dashboard-panel", of=page.locator("#dashboard"))
    assert outside == [], f"the page asked the internet for {outside}"

    page.locator("#work-conflicts a").first.click()
    page.wait_for_url("**/conflict/**")
    assert page.locator("#result_list tbody tr").count() == 6
    screenshot(page, "dashboard-conflicts-list")


def test_a_steward_sees_the_dashboard_of_their_company_only(page, org, stewards_group):
    from tests.conftest import make_steward

    open_work(org)
    steward = make_steward("steward_a", org.a, stewards_group, actions=("view", "change", "resolve"))

    login(page, steward)

    text = page.locator("#dashboard").inner_text()
    assert "A · Company A" in text and "B · Company B" not in text
    assert page.locator("#dashboard-sync").count() == 0 and page.locator("#dashboard-push").count() == 0
    screenshot(page, "dashboard-steward-a")
