"""The dashboard's data-quality figures: worst rules and score bands per domain, within the user's scope."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from masterdata.models import QualityRule
from masterdata.services import dashboard, quality
from tests.factories import CustomerFactory, SupplierFactory

pytestmark = pytest.mark.django_db


def rule(domain: str, field: str, kind: str = "required", severity: str = "warning") -> QualityRule:
    return QualityRule.objects.create(domain=domain, field=field, kind=kind, severity=severity)


@pytest.fixture
def checked(org):
    """Customers: 3 without e-mail, 2 without phone (one of each in company A), 1 without tax number; a supplier."""
    rules = type(
        "Rules",
        (),
        {
            "email": rule("customer", "email"),
            "phone": rule("customer", "phone", severity="blocking"),
            "tax": rule("customer", "tax_id"),
            "supplier": rule("supplier", "contact_email"),
        },
    )
    CustomerFactory(owner_org=org.a, phone="1", tax_id="X1")
    CustomerFactory(owner_org=org.b, tax_id="X2")
    CustomerFactory(owner_org=org.b)
    CustomerFactory(owner_org=org.a_sales, email="a@example.com", phone="2", tax_id="X3")
    SupplierFactory(owner_org=org.b)
    quality.check_existing("customer")
    quality.check_existing("supplier")
    return rules


def test_the_worst_rules_are_given_per_domain_most_broken_first(superuser, checked):
    rows = dashboard.worst_rules(superuser)

    assert [(r.rule_id, r.open_issues.value) for r in rows["customer"]] == [
        (checked.email.pk, 3),
        (checked.phone.pk, 2),
        (checked.tax.pk, 1),
    ]
    assert [(r.field, r.kind, r.severity) for r in rows["customer"][:2]] == [
        ("email", "Required", "warning"),
        ("phone", "Required", "blocking"),
    ]
    assert [(r.rule_id, r.open_issues.value) for r in rows["supplier"]] == [(checked.supplier.pk, 1)]


def test_only_the_worst_rules_of_a_domain_are_given(superuser, checked):
    rows = dashboard.worst_rules(superuser, per_domain=2)

    assert [r.rule_id for r in rows["customer"]] == [checked.email.pk, checked.phone.pk]


def test_a_steward_counts_the_issues_of_their_org_units_only(steward_a, checked):
    rows = dashboard.worst_rules(steward_a)

    assert [(r.rule_id, r.open_issues.value) for r in rows["customer"]] == [(checked.email.pk, 1)]
    assert "supplier" not in rows  # company B's supplier


def test_a_worst_rule_links_to_the_issues_of_that_rule(superuser, checked):
    link = dashboard.worst_rules(superuser)["customer"][0].open_issues.url

    assert parse_qs(urlsplit(link).query) == {"domain__exact": ["customer"], "rule__id__exact": [str(checked.email.pk)]}


def test_records_are_counted_by_score_band_within_scope(steward_a, superuser, checked):
    everyone = {row.domain: [band.value for band in row.bands] for row in dashboard.quality(superuser)}
    company_a = {row.domain: [band.value for band in row.bands] for row in dashboard.quality(steward_a)}

    # customers keep 2, 1, 0 and 3 of their 3 rules: scores 67, 33, 0 and 100 (bands 0–49, 50–79, 80–99, 100)
    assert everyone == {"customer": [2, 1, 0, 1], "supplier": [1, 0, 0, 0]}
    assert company_a == {"customer": [0, 1, 0, 1]}


def test_a_score_band_links_to_the_scores_in_it(superuser, checked):
    row = next(row for row in dashboard.quality(superuser) if row.domain == "customer")

    assert parse_qs(urlsplit(row.bands[1].url).query) == {
        "domain__exact": ["customer"],
        "score__gte": ["50"],
        "score__lte": ["79"],
    }
    assert row.bands[2].url is None  # nothing to open
