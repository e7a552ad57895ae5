"""The dashboard on the admin index: every figure within the user's scope, each linked to the list it counts."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from connectors.models import Delivery, FailureClass, FailureDirection, FailureStage, PushTarget, SyncRun
from masterdata.models import Conflict, DuplicateSuspect, QualityIssue, QualityRule, QualityScore
from masterdata.services import dashboard
from tests.conftest import make_steward
from tests.connectors.admin.conftest import queued
from tests.factories import CustomerFactory, SourceSystemFactory, UserFactory
from tests.masterdata.admin.conftest import browser

INDEX = reverse("admin:index")


@pytest.fixture
def resolver_a(org, stewards_group):
    return make_steward("resolver_a", org.a, stewards_group, actions=("view", "change", "resolve"))


def conflict(record, field: str = "name") -> Conflict:
    return Conflict.objects.create(
        domain="customer", golden_id=record.pk, field=field, reason="equal_trust", owner_org=record.owner_org
    )


def duplicate(first, second) -> DuplicateSuspect:
    a, b = sorted([first.pk, second.pk])
    return DuplicateSuspect.objects.create(domain="customer", golden_id_a=a, golden_id_b=b, score=91,
                                           owner_org=first.owner_org)  # fmt: skip


@pytest.fixture
def open_work(org, customers):
    """Company A: 2 conflicts (one in its sales department), 1 duplicate, 1 failure; B: 1 conflict; group: 1 failure."""
    conflict(customers.a)
    conflict(customers.a_sales)
    conflict(customers.b)
    duplicate(customers.a, CustomerFactory(owner_org=org.a_sales))
    queued(golden=customers.a, key="FAILED-A")
    queued(key="FAILED-NEW")  # a record the hub does not know yet
    return customers


def links(html: str) -> dict[str, str]:
    """Visible text → href of every link in the dashboard."""
    part = html[html.index('id="dashboard"') : html.index("</section>", html.index('id="dashboard-quality"'))]
    return {unescape(re.sub(r"<[^>]+>", "", text)).strip(): unescape(href) for href, text in
            re.findall(r'<a href="([^"]+)">(.*?)</a>', part, re.S)}  # fmt: skip


def row_of(html: str, table_id: str, label: str) -> str:
    section = html[html.index(f'id="work-{table_id}"') :]
    start = section.index(f"<td>{label}</td>")
    return section[start : section.index("</tr>", start)]


def listed_rows(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    assert "?e=1" not in response.get("Location", ""), f"the list refused a filter of {url}"
    html = response.content.decode()
    if 'id="result_list"' not in html:
        return 0
    body = html[html.index("<tbody>", html.index('id="result_list"')) :]
    return body[: body.index("</tbody>")].count("<tr")


def test_open_work_is_counted_per_company_and_domain_and_each_number_opens_exactly_those_rows(superuser, open_work):
    client = browser(superuser)
    html = client.get(INDEX).content.decode()

    a_conflicts = row_of(html, "conflicts", "A · Company A")
    assert re.findall(r">(\d+)</a>", a_conflicts) == ["2", "2"]  # customers, total
    assert re.findall(r">(\d+)</a>", row_of(html, "conflicts", "B · Company B")) == ["1", "1"]
    assert re.findall(r">(\d+)</a>", row_of(html, "failed-syncs", "A · Company A")) == ["1", "1"]
    assert re.findall(r">(\d+)</a>", row_of(html, "failed-syncs", "Group level")) == ["1", "1"]
    assert re.findall(r">(\d+)</a>", row_of(html, "duplicate-suspects", "A · Company A")) == ["1", "1"]

    conflicts_of_a = re.search(r'href="([^"]+)">2</a>', a_conflicts).group(1)
    assert listed_rows(client, unescape(conflicts_of_a)) == 2
    failures_of_a = re.search(r'href="([^"]+)">1</a>', row_of(html, "failed-syncs", "A · Company A")).group(1)
    assert listed_rows(client, unescape(failures_of_a)) == 1
    every_failure = re.search(r'id="work-failed-syncs">Failed syncs:\s*<a href="([^"]+)">2</a>', html).group(1)
    assert listed_rows(client, unescape(every_failure)) == 2


def test_a_steward_sees_the_work_of_their_company_only(resolver_a, open_work):
    html = browser(resolver_a).get(INDEX).content.decode()

    assert "B · Company B" not in html and "Group level" not in html
    assert re.findall(r">(\d+)</a>", row_of(html, "conflicts", "A · Company A")) == ["2", "2"]
    assert re.findall(r">(\d+)</a>", row_of(html, "failed-syncs", "A · Company A")) == ["1", "1"]
    assert 'id="dashboard-sync"' not in html and 'id="dashboard-push"' not in html  # not theirs to act on


def test_a_stewards_failed_syncs_count_what_their_queue_lists_records_the_hub_does_not_know_yet_too(
    resolver_a, org, open_work
):
    queued(key="NEW-OF-A-SALES", owner_org_id=org.a_sales.pk)  # refused before the hub created it
    client = browser(resolver_a)

    html = client.get(INDEX).content.decode()

    row = row_of(html, "failed-syncs", "A · Company A")
    assert re.findall(r">(\d+)</a>", row) == ["2", "2"]
    assert listed_rows(client, unescape(re.search(r'href="([^"]+)">2</a>', row).group(1))) == 2


def test_sync_runs_are_drawn_per_source_and_day_and_a_day_opens_that_days_runs(superuser):
    source = SourceSystemFactory(code="erp")
    now = timezone.now()
    for started, fetched, failed in [(now, 120, 3), (now, 80, 0), (now - timedelta(days=1), 50, 5)]:
        SyncRun.objects.create(source=source, domain="customer", status="partial", started_at=started,
                               finished_at=started + timedelta(seconds=30), fetched=fetched, failed=failed)  # fmt: skip
    client = browser(superuser)

    html = client.get(INDEX).content.decode()

    assert 'aria-label="Sync runs of erp per day: records, failures and run time"' in html
    today = timezone.localdate()
    assert f"<title>{today:%d %b}: 200 records in 2 run(s)</title>" in html
    assert f"<title>{today:%d %b}: 3 failed records</title>" in html
    day_url = dashboard.admin_list("connectors.SyncRun", source__id__exact=source.pk, started_at__year=today.year,
                                   started_at__month=today.month, started_at__day=today.day)  # fmt: skip
    assert f'href="{day_url}"'.replace("&", "&amp;") in html
    assert listed_rows(client, day_url) == 2
    series_url = links(html)["3 runs, 250 records read, 8 failed"]
    assert listed_rows(client, series_url) == 3


def test_push_backlog_and_dead_letters_are_counted_per_target_with_its_switch(superuser, customers):
    source = SourceSystemFactory(code="crm")
    target = PushTarget.objects.create(
        source=source, domain="customer", resource="/c", key_field="id", field_map={"code": "code"}, paused=True,
        paused_reason="CRM upgrade",
    )  # fmt: skip
    for record in (customers.a, customers.b):
        Delivery.objects.create(target=target, domain="customer", golden_id=record.pk, version=1)
    queued(source, golden=customers.a, key="P-1", direction=FailureDirection.OUTBOUND, push_target=target,
           stage=FailureStage.PUSH, classification=FailureClass.TRANSIENT)  # fmt: skip
    client = browser(superuser)

    html = client.get(INDEX).content.decode()

    push = html[html.index('id="dashboard-push"') :]
    assert "<strong>paused</strong> — CRM upgrade" in push and ">Resume</button>" in push
    dead_url = dashboard.admin_list("connectors.SyncFailure", status__exact="open", push_target__id__exact=target.pk)
    assert f'<a href="{dead_url}">1</a>'.replace("&", "&amp;") in push
    assert listed_rows(client, dead_url) == 1
    assert re.search(r'class="num">(?:<a href="[^"]+">)?2(?:</a>)?</td>', push)  # the backlog


def test_quality_shows_the_mean_score_per_domain_within_scope(resolver_a, org, customers):
    QualityScore.objects.create(domain="customer", golden_id=customers.a.pk, score=90, open_issues=1, owner_org=org.a)
    QualityScore.objects.create(domain="customer", golden_id=customers.a_sales.pk, score=70, owner_org=org.a_sales)
    QualityScore.objects.create(domain="customer", golden_id=customers.b.pk, score=10, owner_org=org.b)

    html = browser(resolver_a).get(INDEX).content.decode()

    quality = html[html.index('id="dashboard-quality"') :]
    assert re.search(r"<td>customer</td>\s*<td class=\"num\">(<a [^>]+>)?80.0", quality)
    assert 'aria-label="Mean data-quality score per domain"' in quality


def test_the_records_scored_figure_opens_the_list_of_exactly_those_scores(resolver_a, org, customers):
    QualityScore.objects.create(domain="customer", golden_id=customers.a.pk, score=90, open_issues=1, owner_org=org.a)
    QualityScore.objects.create(domain="customer", golden_id=customers.a_sales.pk, score=70, owner_org=org.a_sales)
    QualityScore.objects.create(domain="customer", golden_id=customers.b.pk, score=10, owner_org=org.b)
    client = browser(resolver_a)

    quality = client.get(INDEX).content.decode()
    quality = quality[quality.index('id="dashboard-quality"') :]
    scored = re.search(r'<td class="num"><a href="([^"]+)">2</a></td>', quality)

    assert scored is not None, "the number of records scored links to its list"
    listed = client.get(unescape(scored.group(1)))
    assert listed_rows(client, unescape(scored.group(1))) == 2
    assert [row.score for row in listed.context["cl"].result_list] == [70, 90]  # worst first, company B's left out


def broken(rule: QualityRule, record, **fields) -> QualityIssue:
    """An open issue of ``rule`` on ``record`` (resolved when ``resolved_at`` is given)."""
    return QualityIssue.objects.create(domain=rule.domain, golden_id=record.pk, rule=rule, field=rule.field,
                                       message="broken", owner_org=record.owner_org, **fields)  # fmt: skip


def scored(record, score: int) -> QualityScore:
    return QualityScore.objects.create(domain="customer", golden_id=record.pk, score=score, owner_org=record.owner_org)


@pytest.fixture
def findings(org, customers):
    """Company A: 3 records without e-mail, 1 with a bad tax number; company B: 3 bad tax numbers (+1 fixed e-mail)."""
    email = QualityRule.objects.create(domain="customer", field="email", kind="required")
    tax = QualityRule.objects.create(domain="customer", field="tax_id", kind="tax_id", severity="blocking",
                                     description="A valid tax number of the customer's country")  # fmt: skip
    another_of_a = CustomerFactory(owner_org=org.a_sales)
    more_of_b = [CustomerFactory(owner_org=org.b) for _ in range(2)]
    for record in (customers.a, customers.a_sales, another_of_a):
        broken(email, record)
    for record in (customers.a, customers.b, *more_of_b):
        broken(tax, record)
    broken(email, customers.b, resolved_at=timezone.now())
    for record, score in [(customers.a, 40), (customers.a_sales, 60), (another_of_a, 100), (customers.b, 20),
                          (more_of_b[0], 85), (more_of_b[1], 90)]:  # fmt: skip
        scored(record, score)
    return type("Findings", (), {"email": email, "tax": tax})


def worst_rules(html: str, domain: str = "customer") -> list[tuple[str, str, str, str]]:
    """(rule, severity, records failing, link) of each row of a domain's worst rules, as shown."""
    card = html[html.index(f'id="worst-rules-{domain}"') :]
    body = card[card.index("<tbody>") : card.index("</tbody>")]
    rows = re.findall(
        r"<tr><td[^>]*>(.*?)</td>\s*<td>(.*?)</td>\s*<td class=\"num\"><a href=\"([^\"]+)\">(\d+)</a>", body, re.S
    )
    return [(rule, re.sub(r"<[^>]+>", "", severity), number, unescape(url)) for rule, severity, url, number in rows]


def listed_issues(client, url: str) -> list[QualityIssue]:
    response = client.get(url)
    assert response.status_code == 200, url
    return list(response.context["cl"].result_list)


def test_the_rules_broken_most_often_are_listed_worst_first_with_severity_and_records_failing(superuser, findings):
    html = browser(superuser).get(INDEX).content.decode()

    assert [row[:3] for row in worst_rules(html)] == [
        ("tax_id: Tax id", "blocking", "4"),
        ("email: Required", "warning", "3"),  # a fixed e-mail address no longer counts
    ]
    assert 'title="A valid tax number of the customer&#x27;s country"' in html


def test_a_steward_counts_only_the_failures_of_their_company(resolver_a, findings):
    html = browser(resolver_a).get(INDEX).content.decode()

    assert [row[:3] for row in worst_rules(html)] == [
        ("email: Required", "warning", "3"),
        ("tax_id: Tax id", "blocking", "1"),
    ]


def test_a_worst_rule_opens_the_open_issues_of_that_rule_the_steward_may_see(resolver_a, findings):
    client = browser(resolver_a)
    html = client.get(INDEX).content.decode()
    (_, _, _, email_url), (_, _, _, tax_url) = worst_rules(html)

    email_issues = listed_issues(client, email_url)
    tax_issues = listed_issues(client, tax_url)

    assert len(email_issues) == 3 and {i.rule_id for i in email_issues} == {findings.email.pk}
    assert all(i.resolved_at is None for i in email_issues)
    assert [(i.rule_id, i.owner_org.code) for i in tax_issues] == [(findings.tax.pk, "A")]
    rule_filter = client.get(tax_url).content.decode().split("By rule")[1]
    assert re.search(r'<li class="selected">\s*<a [^>]+>([^<]+)</a>', rule_filter).group(1) == str(findings.tax)


def test_records_are_counted_by_score_band_and_a_band_opens_its_scores(resolver_a, findings):
    client = browser(resolver_a)
    html = client.get(INDEX).content.decode()
    row = html[html.index("<td>customer</td>", html.index('id="dashboard-quality"')) :]
    row = row[: row.index("</tr>")]

    bands = re.findall(r'<td class="num score-band">(.*?)</td>', row)
    assert [re.sub(r"<[^>]+>", "", band) for band in bands] == ["1", "1", "0", "1"]  # 0–49, 50–79, 80–99, 100
    low = unescape(re.search(r'href="([^"]+)"', bands[0]).group(1))
    listed = client.get(low)
    assert listed.status_code == 200
    assert [score.score for score in listed.context["cl"].result_list] == [40]  # company B's 20 left out


def test_the_quality_section_costs_the_same_queries_however_many_records_and_rules(resolver_a, org, findings):
    client = browser(resolver_a)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(INDEX)
        return len(captured)

    few = queries()
    for index in range(8):
        rule = QualityRule.objects.create(domain="customer", field="name", kind="regex", params={"pattern": f"{index}"})
        for _ in range(3):
            record = CustomerFactory(owner_org=org.a_sales if index % 2 else org.b)
            broken(rule, record)
            scored(record, 10 * index)
    assert queries() == few


def test_sections_whose_models_are_not_installed_say_not_configured(superuser, monkeypatch):
    real = dashboard._model
    missing = {"masterdata.QualityScore", "connectors.PushTarget", "connectors.SyncRun", "connectors.SyncFailure"}
    monkeypatch.setattr(dashboard, "_model", lambda label: None if label in missing else real(label))

    html = browser(superuser).get(INDEX).content.decode()

    assert "Not configured: no data-quality scores in this installation." in html
    assert "Not configured: push delivery is not installed." in html
    assert "Not configured: the connectors are not installed." in html
    assert re.search(r"Failed syncs:\s*<span class=\"quiet\">not configured</span>", html)


def test_the_dashboard_loads_nothing_from_outside_the_hub(superuser, open_work):
    html = browser(superuser).get(INDEX).content.decode()

    assert "<svg" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_the_dashboard_costs_the_same_queries_however_much_work_is_open(superuser, org):
    client = browser(superuser)
    source = SourceSystemFactory()

    def add(count: int, offset: int) -> None:
        for i in range(offset, offset + count):
            record = CustomerFactory(owner_org=org.a if i % 2 else org.b)
            conflict(record)
            queued(source, golden=record, key=f"K{i}")
            SyncRun.objects.create(source=source, domain="customer", fetched=i, finished_at=timezone.now())

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(INDEX)
        return len(captured)

    add(2, 0)
    few = queries()
    add(20, 100)
    assert queries() == few


def test_a_steward_who_may_not_resolve_has_no_failed_syncs_section(steward_a, open_work):
    html = browser(steward_a).get(INDEX).content.decode()

    assert 'id="work-conflicts"' in html and 'id="work-failed-syncs"' not in html


def test_staff_without_any_permission_get_the_index_without_work_sections(db, open_work):
    clerk = UserFactory(username="clerk", is_staff=True)

    response = browser(clerk).get(INDEX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="work-conflicts"' not in html and 'id="work-failed-syncs"' not in html
