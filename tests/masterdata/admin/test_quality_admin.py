"""Admin of data-quality rules (validated against the registry) and issues (read-only, scoped by org unit)."""

from __future__ import annotations

import pytest

from masterdata.models import Customer, QualityIssue, QualityRule
from masterdata.services import quality
from tests.factories import CustomerFactory

from .conftest import admin_url

pytestmark = pytest.mark.django_db


def rule_form(**fields) -> dict:
    return {"domain": "customer", "field": "email", "kind": "email", "params": "{}", "severity": "warning",
            "weight": "1", "active": "on", "description": "", **fields}  # fmt: skip


def test_a_rule_is_added_in_the_admin(superuser_client):
    response = superuser_client.post(admin_url(QualityRule, "add"), rule_form(kind="tax_id", field="tax_id"))

    assert response.status_code == 302
    assert QualityRule.objects.get().kind == "tax_id"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"field": "nickname"}, "is not a field of customer"),
        ({"kind": "regex", "params": '{"pattern": "("}'}, "not a regular expression"),
        ({"kind": "phone", "params": '{"region": "CN"}'}, "Unknown parameter(s) region"),
    ],
)
def test_a_rule_that_cannot_be_applied_is_refused_by_the_form(superuser_client, fields, message):
    response = superuser_client.post(admin_url(QualityRule, "add"), rule_form(**fields))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not QualityRule.objects.exists()


@pytest.fixture
def issues(org):
    QualityRule.objects.create(domain="customer", field="email", kind="required")
    CustomerFactory(code="CA-BAD", owner_org=org.a_sales)
    CustomerFactory(code="CB-BAD", owner_org=org.b)
    quality.check_existing("customer")
    return QualityIssue.objects.order_by("golden_id")


def test_stewards_see_the_issues_of_their_org_units_only(steward_a_client, issues):
    page = steward_a_client.get(admin_url(QualityIssue, "changelist")).content.decode()

    assert "CA-BAD" in page
    assert "CB-BAD" not in page
    other = issues.get(owner_org__code="B")
    assert steward_a_client.get(admin_url(QualityIssue, "change", other.pk)).status_code == 302


def test_issues_are_read_only(superuser_client, issues):
    issue = issues.first()

    assert superuser_client.get(admin_url(QualityIssue, "change", issue.pk)).status_code == 200
    assert superuser_client.get(admin_url(QualityIssue, "add")).status_code == 403
    assert superuser_client.post(admin_url(QualityIssue, "delete", issue.pk), {"post": "yes"}).status_code == 403
    assert QualityIssue.objects.count() == 2


def test_resolved_issues_are_listed_on_request(superuser_client, issues):
    QualityRule.objects.update(active=False)
    quality.check_existing("customer")
    url = admin_url(QualityIssue, "changelist")

    assert "CA-BAD" not in superuser_client.get(url).content.decode()
    assert "CA-BAD" in superuser_client.get(url + "?state=resolved").content.decode()


def test_the_rule_list_counts_open_issues(superuser_client, issues):
    page = superuser_client.get(admin_url(QualityRule, "changelist")).content.decode()

    assert '<td class="field-open_issues">2</td>' in page


def test_an_issue_page_links_its_rule_only_for_who_may_open_the_rule(steward_a_client, superuser_client, issues):
    own = issues.get(owner_org__code="A-SALES")
    rule_url = admin_url(QualityRule, "change", own.rule_id)

    as_steward = steward_a_client.get(admin_url(QualityIssue, "change", own.pk))
    as_admin = superuser_client.get(admin_url(QualityIssue, "change", own.pk))

    assert as_steward.status_code == 200 and rule_url not in as_steward.content.decode()
    assert steward_a_client.get(rule_url).status_code == 403  # the link would have led nowhere
    assert str(own.rule) in as_steward.content.decode()
    assert rule_url in as_admin.content.decode()
    record_url = admin_url(Customer, "change", own.golden_id)
    assert f'<a href="{record_url}">CA-BAD</a>' in as_steward.content.decode()  # the record, not its bare id
