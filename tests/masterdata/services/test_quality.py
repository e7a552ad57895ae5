"""Data-quality rules: each kind of check, scores, the sync pipeline's gate, checks on demand, the summary."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.models import SyncFailure
from connectors.services import pipeline
from masterdata.models import (
    Customer,
    Employee,
    GoldenStatus,
    Material,
    QualityIssue,
    QualityRule,
    QualityScore,
    Supplier,
)
from masterdata.services import quality
from masterdata.services.ingest import ingest_batch
from tests.connectors.pipeline.conftest import make_source, map_source
from tests.factories import CustomerFactory, EmployeeFactory, OrgUnitFactory, SupplierFactory

from .conftest import incoming

pytestmark = pytest.mark.django_db

VALID_USCC = "91110000600037341L"
INVALID_USCC = "91110000600037341X"


def rule(domain_name: str, field: str, kind: str, severity: str = "warning", **params) -> QualityRule:
    return QualityRule.objects.create(domain=domain_name, field=field, kind=kind, severity=severity, params=params)


def messages(domain: str, records) -> list[list[str]]:
    """Per record, the messages of the rules it breaks."""
    return [[v.message for v in result.violations] for result in quality.evaluate(domain, records)]


def broken(domain: str, records) -> list[bool]:
    return [bool(result.violations) for result in quality.evaluate(domain, records)]


# --- one value ---------------------------------------------------------------------------------------
def test_a_required_field_must_not_be_empty():
    rule("customer", "email", "required")

    assert messages(
        "customer", [Customer(code="C1", name="A", email=""), Customer(code="C2", name="B", email="x@y.cn")]
    ) == [
        ["A value is required."],
        [],
    ]


def test_an_email_must_be_an_address_and_format_rules_leave_empty_values_to_required():
    rule("customer", "email", "email")

    records = [Customer(email="buyer@example.cn"), Customer(email="not an address"), Customer(email="")]
    assert messages("customer", records) == [[], ["Not a valid e-mail address."], []]


@pytest.mark.parametrize(
    ("country", "phone", "valid"),
    [
        ("CN", "13800138000", True),
        ("CN", "+86 138 0013 8000", True),
        ("CN", "12345", False),
        ("DE", "030 1234567", True),
        ("DE", "+49 30 1234567", True),
        ("DE", "0301", False),
        ("", "+49 30 1234567", True),
        ("", "030 1234567", False),
    ],
)
def test_a_phone_number_is_judged_in_the_records_country(country, phone, valid):
    rule("customer", "phone", "phone")

    assert broken("customer", [Customer(country=country, phone=phone)]) == [not valid]


def test_a_phone_rule_may_fix_the_country():
    rule("supplier", "contact_phone", "phone", country="CN")

    assert broken("supplier", [Supplier(country="DE", contact_phone="13800138000")]) == [False]
    assert messages("supplier", [Supplier(contact_phone="030 1234567")]) == [["Not a valid phone number for CN."]]


def test_a_chinese_tax_id_is_a_unified_social_credit_code():
    rule("supplier", "tax_id", "tax_id")

    valid, invalid = Supplier(country="CN", tax_id=VALID_USCC), Supplier(country="CN", tax_id=INVALID_USCC)
    results = messages("supplier", [valid, invalid])

    assert results[0] == []
    assert "USCC" in results[1][0] and "check digit" in results[1][0]


@pytest.mark.parametrize(
    ("country", "tax_id", "valid"),
    [
        ("DE", "DE136695976", True),
        ("DE", "136695976", True),  # the record's country supplies the prefix
        ("DE", "DE136695978", False),
        ("FR", "FR40303265045", True),
        ("FR", "FR 40 303 265 045", True),
        ("FR", "FR40303265046", False),
        ("FR", "40303265045", True),
    ],
)
def test_an_eu_tax_id_is_a_vat_number(country, tax_id, valid):
    rule("customer", "tax_id", "tax_id")

    assert broken("customer", [Customer(country=country, tax_id=tax_id)]) == [not valid]


def test_a_tax_id_rule_may_name_its_scheme_and_a_country_without_one_is_not_judged():
    rule("customer", "tax_id", "tax_id", scheme="cn.uscc")

    assert broken("customer", [Customer(country="DE", tax_id=VALID_USCC), Customer(tax_id="DE136695976")]) == [
        False,
        True,
    ]
    QualityRule.objects.all().delete()
    rule("customer", "tax_id", "tax_id")
    assert broken("customer", [Customer(country="AQ", tax_id="anything"), Customer(country="", tax_id="x")]) == [
        False,
        False,
    ]


def test_a_pattern_must_match_the_whole_value():
    rule("material", "unit_of_measure", "regex", pattern="[A-Z]{1,3}")

    assert broken("material", [Material(unit_of_measure="KG"), Material(unit_of_measure="KG2")]) == [False, True]


def test_a_range_bounds_numbers_dates_and_the_length_of_text():
    rule("customer", "credit_limit", "range", min=0, max=1_000_000)
    rule("employee", "hire_date", "range", min="1990-01-01")
    rule("customer", "name", "range", max=5)

    assert broken("customer", [Customer(name="Ok", credit_limit=Decimal("999999.99"))]) == [False]
    assert messages("customer", [Customer(name="Too long", credit_limit=Decimal("1000000.01"))]) == [
        ["The value 1000000.01 is above the maximum 1000000.", "The length 8 is above the maximum 5."]
    ]
    assert broken("employee", [Employee(hire_date=date(1989, 12, 31)), Employee(hire_date=date(1990, 1, 1))]) == [
        True,
        False,
    ]


def test_a_rule_with_a_description_reports_it_as_its_message():
    QualityRule.objects.create(
        domain="customer", field="email", kind="required", description="Customers need an e-mail for invoices."
    )

    assert messages("customer", [Customer()]) == [["Customers need an e-mail for invoices."]]


# --- other records ----------------------------------------------------------------------------------
def test_a_reference_must_name_an_existing_active_record(org):
    rule("employee", "manager", "reference")
    rule("employee", "org_unit", "reference")
    boss, retired = EmployeeFactory(code="E-BOSS"), EmployeeFactory(code="E-OLD", status=GoldenStatus.INACTIVE)
    closed = OrgUnitFactory(code="CLOSED", status=GoldenStatus.INACTIVE)

    results = messages(
        "employee",
        [
            Employee(code="E1", manager=boss, org_unit=org.a),
            Employee(code="E2", manager=retired, org_unit=closed),
        ],
    )

    assert results == [[], ["The employee E-OLD is inactive.", "The org unit CLOSED is inactive."]]


def test_a_reference_held_as_a_code_names_a_record_of_the_rules_domain():
    EmployeeFactory(code="E-BUYER")
    rule("supplier", "attributes.buyer", "reference", domain="employee")

    records = [Supplier(attributes={"buyer": "E-BUYER"}), Supplier(attributes={"buyer": "E-NOBODY"}), Supplier()]
    assert messages("supplier", records) == [[], ["There is no employee E-NOBODY."], []]


def test_a_unique_value_may_not_be_held_by_another_record_and_the_first_new_claimant_keeps_it():
    rule("customer", "tax_id", "unique")
    CustomerFactory(code="OLD", tax_id="T-TAKEN")
    CustomerFactory(code="MERGED-INTO", tax_id="T-FREE-SURVIVOR")

    results = broken(
        "customer",
        [
            Customer(code="N1", tax_id="T-TAKEN"),
            Customer(code="N2", tax_id="T-NEW"),
            Customer(code="N3", tax_id="T-NEW"),
            Customer(code="N4", tax_id=""),
        ],
    )

    assert results == [True, False, True, False]


def test_saved_duplicates_are_all_flagged_and_merged_records_do_not_count():
    rule("customer", "tax_id", "unique", ignore_case=True)
    first, second = CustomerFactory(tax_id="ab-1"), CustomerFactory(tax_id="AB-1")
    survivor = CustomerFactory(tax_id="X-9")
    CustomerFactory(tax_id="X-9", status=GoldenStatus.MERGED, merged_into=survivor)

    assert broken("customer", [first, second, survivor]) == [True, True, False]


def test_reference_and_uniqueness_rules_query_once_per_rule_whatever_the_batch_size(org):
    rule("customer", "owner_org", "reference")
    rule("customer", "tax_id", "unique")
    rule("customer", "email", "email")
    rules = quality.active_rules("customer")
    records = [Customer(code=f"C{n}", tax_id=f"T{n}", owner_org=org.a, email="a@b.cn") for n in range(200)]

    with CaptureQueriesContext(connection) as queries:
        quality.evaluate("customer", records, rules=rules)

    assert len(queries) == 2


# --- scores -------------------------------------------------------------------------------------------
def test_the_score_is_the_share_of_rule_weight_a_record_satisfies():
    QualityRule.objects.create(domain="customer", field="email", kind="required", weight=3)
    rule("customer", "phone", "required")

    scores = [r.score for r in quality.evaluate("customer", [Customer(email="a@b.cn", phone="1"), Customer(phone="1"),
                                                             Customer(email="a@b.cn"), Customer()])]  # fmt: skip
    assert scores == [100, 25, 75, 0]
    QualityRule.objects.all().delete()
    assert quality.evaluate("customer", [Customer()])[0].score == 100


# --- in the sync pipeline ---------------------------------------------------------------------------
@pytest.fixture
def supplier_erp(db):
    source = make_source("erp", kind="erp", domain="supplier", trust=80)
    map_source(
        source,
        "supplier",
        {"resource": "LFA1", "key_field": "LIFNR"},
        {"LIFNR": "code", "NAME1": "name", "LAND1": "country", "STCD1": "tax_id", "TELF1": "contact_phone"},
    )
    return source


def test_a_blocking_rule_sends_the_record_to_the_failure_queue_with_the_rules_message(supplier_erp):
    rule("supplier", "tax_id", "tax_id", severity="blocking")

    result = pipeline.ingest_records(
        supplier_erp,
        "supplier",
        [
            {"LIFNR": "S1", "NAME1": "Good", "LAND1": "CN", "STCD1": VALID_USCC},
            {"LIFNR": "S2", "NAME1": "Bad", "LAND1": "CN", "STCD1": INVALID_USCC},
        ],
    )

    assert (result.run.created, result.run.failed) == (1, 1)
    assert list(Supplier.objects.values_list("code", flat=True)) == ["S1"]
    failure = SyncFailure.objects.get()
    assert (failure.stage, failure.source_key, failure.status) == ("validate", "S2", "open")
    assert "check digit" in failure.errors["tax_id"][0]
    assert failure.payload["STCD1"] == INVALID_USCC
    assert not QualityIssue.objects.exists()


def test_a_record_the_source_fixes_goes_through_and_resolves_its_failure(supplier_erp):
    rule("supplier", "tax_id", "tax_id", severity="blocking")
    pipeline.ingest_records(supplier_erp, "supplier", [{"LIFNR": "S2", "NAME1": "Bad", "LAND1": "CN", "STCD1": "x"}])

    pipeline.ingest_records(
        supplier_erp, "supplier", [{"LIFNR": "S2", "NAME1": "Fixed", "LAND1": "CN", "STCD1": VALID_USCC}]
    )

    assert SyncFailure.objects.get().status == "resolved"
    assert Supplier.objects.get().tax_id == VALID_USCC


def test_a_warning_rule_lets_the_record_through_and_records_an_issue_and_a_score(supplier_erp, org):
    rule("supplier", "contact_phone", "phone")
    rule("supplier", "tax_id", "required")

    result = pipeline.ingest_records(
        supplier_erp,
        "supplier",
        [
            {"LIFNR": "S1", "NAME1": "Shanghai", "LAND1": "CN", "STCD1": VALID_USCC, "TELF1": "13800138000"},
            {"LIFNR": "S2", "NAME1": "Berlin", "LAND1": "DE", "STCD1": "", "TELF1": "12"},
        ],
    )

    assert (result.run.created, result.run.failed) == (2, 0)
    good, poor = Supplier.objects.get(code="S1"), Supplier.objects.get(code="S2")
    issues = QualityIssue.objects.filter(golden_id=poor.pk).order_by("field")
    assert [(i.field, i.value, i.message, i.is_open) for i in issues] == [
        ("contact_phone", "12", "Not a valid phone number for DE.", True),
        ("tax_id", "", "A value is required.", True),
    ]
    assert quality.scores_for("supplier", [good.pk, poor.pk]) == {good.pk: 100, poor.pk: 0}


def test_an_issue_closes_when_the_source_sends_a_value_that_complies(erp, customer_domain):
    rule("customer", "phone", "phone")
    ingest_batch(erp, customer_domain, [incoming("K1", code="C1", name="A", country="CN", phone="12")])
    issue = QualityIssue.objects.get()

    ingest_batch(erp, customer_domain, [incoming("K1", code="C1", name="A", country="CN", phone="13800138000")])

    issue.refresh_from_db()
    assert issue.resolved_at is not None
    assert QualityScore.objects.get().score == 100


def test_a_blocking_rule_does_not_refuse_an_update_that_leaves_the_broken_field_alone(erp, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("K1", code="C1", name="Alpha", email="")])
    rule("customer", "email", "required", severity="blocking")

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C1", name="Alpha Trading", email="")])
    refused = ingest_batch(erp, customer_domain, [incoming("K2", code="C2", name="New", email="")])

    assert result.outcomes[0].outcome == "updated"
    assert Customer.objects.get(code="C1").name == "Alpha Trading"
    assert QualityIssue.objects.get().message == "A value is required."
    assert (refused.outcomes[0].outcome, refused.outcomes[0].errors) == ("failed", {"email": ["A value is required."]})


def test_a_rule_that_can_no_longer_be_applied_is_skipped_instead_of_stopping_the_sync(erp, customer_domain):
    rule("customer", "fax", "required", severity="blocking")  # written around the admin: no such field

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C1", name="A")])

    assert result.outcomes[0].outcome == "created"
    assert quality.active_rules("customer") == []


def test_a_dry_run_reports_blocking_rules_and_writes_no_issue(erp, customer_domain):
    rule("customer", "email", "required", severity="blocking")
    rule("customer", "phone", "required")

    result = ingest_batch(erp, customer_domain, [incoming("K1", code="C1", name="A")], dry_run=True)

    assert result.outcomes[0].errors == {"email": ["A value is required."]}
    assert not QualityIssue.objects.exists()


def test_the_issue_of_a_sensitive_field_keeps_only_its_last_characters(supplier_erp):
    rule("supplier", "bank_account", "regex", pattern=r"\d+")
    SupplierFactory(code="S1", bank_account="CN-6222-0200-1234")

    quality.check_existing("supplier")

    assert QualityIssue.objects.get().value == "••••34"


# --- existing records, on demand ------------------------------------------------------------------------
def test_checking_existing_records_opens_issues_scores_them_and_closes_what_was_fixed(org):
    bad = CustomerFactory(email="nope", owner_org=org.a)
    good = CustomerFactory(email="buyer@example.cn", owner_org=org.b)
    email_rule = rule("customer", "email", "email")

    assert quality.check_existing("customer") == {"customer": {"records": 2, "issues": 1}}
    issue = QualityIssue.objects.get()
    assert (issue.golden_id, issue.owner_org, issue.rule) == (bad.pk, org.a, email_rule)
    assert quality.scores_for("customer", [bad.pk, good.pk]) == {bad.pk: 0, good.pk: 100}

    email_rule.active = False
    email_rule.save()
    quality.check_existing("customer")

    issue.refresh_from_db()
    assert issue.resolved_at is not None
    assert quality.scores_for("customer", [bad.pk]) == {bad.pk: 100}


def test_a_check_reopens_nothing_twice_and_forgets_records_merged_away():
    rule("customer", "email", "required")
    survivor, loser = CustomerFactory(), CustomerFactory()
    quality.check_existing("customer")
    quality.check_existing("customer")
    assert QualityIssue.objects.filter(resolved_at__isnull=True).count() == 2

    Customer.objects.filter(pk=loser.pk).update(status=GoldenStatus.MERGED, merged_into=survivor)
    quality.check_existing("customer")

    assert set(QualityIssue.objects.filter(resolved_at__isnull=True).values_list("golden_id", flat=True)) == {
        survivor.pk
    }
    assert set(QualityScore.objects.values_list("golden_id", flat=True)) == {survivor.pk}


def test_the_check_quality_command_checks_the_named_domains(capsys):
    rule("customer", "email", "required")
    CustomerFactory()

    call_command("check_quality", "customer")

    out = capsys.readouterr().out
    assert "customer: 1 records checked, 1 rule violations" in out
    assert "customer: average score 0.0" in out
    with pytest.raises(Exception, match="Unknown domain 'nope'"):
        call_command("check_quality", "nope")


def test_the_celery_task_runs_the_same_check():
    from masterdata.tasks import check_quality

    rule("customer", "email", "required")
    CustomerFactory()

    assert check_quality.apply(args=["customer"]).get() == {"customer": {"records": 1, "issues": 1}}


# --- the summary for stewards ---------------------------------------------------------------------------
def test_the_summary_gives_scores_per_domain_and_the_worst_rules_within_the_users_scope(org, steward_a):
    email_rule = rule("customer", "email", "required")
    phone_rule = rule("customer", "phone", "required")
    CustomerFactory(owner_org=org.a, phone="1")
    CustomerFactory(owner_org=org.b)
    CustomerFactory(owner_org=org.b)
    quality.check_existing("customer")

    everything = quality.summary()
    customers = next(row for row in everything["domains"] if row["domain"] == "customer")
    assert (customers["records"], customers["average_score"], customers["open_issues"], customers["rules"]) == (
        3,
        round((50 + 0 + 0) / 3, 1),
        5,
        2,
    )
    assert [(r["rule_id"], r["open_issues"]) for r in everything["worst_rules"]] == [
        (email_rule.pk, 3),
        (phone_rule.pk, 2),
    ]
    materials = next(row for row in everything["domains"] if row["domain"] == "material")
    assert (materials["records"], materials["average_score"]) == (0, None)

    scoped = quality.summary(steward_a)
    customers_a = next(row for row in scoped["domains"] if row["domain"] == "customer")
    assert (customers_a["records"], customers_a["average_score"], customers_a["open_issues"]) == (1, 50.0, 1)
    assert [(r["rule_id"], r["open_issues"]) for r in scoped["worst_rules"]] == [(email_rule.pk, 1)]


# --- rule settings ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domain", "field", "kind", "params", "error"),
    [
        ("customer", "nickname", "required", {}, "field"),
        ("customer", "attributes.bad key", "required", {}, "field"),
        ("customer", "email", "email", {"country": "CN"}, "params"),
        ("customer", "name", "regex", {"pattern": "(unclosed"}, "params"),
        ("customer", "name", "regex", {}, "params"),
        ("customer", "credit_limit", "range", {}, "params"),
        ("customer", "credit_limit", "range", {"min": "lots"}, "params"),
        ("employee", "hire_date", "range", {"min": "last year"}, "params"),
        ("material", "name", "tax_id", {}, "params"),  # materials have no country
        ("customer", "tax_id", "tax_id", {"country": "China"}, "params"),
        ("customer", "tax_id", "tax_id", {"scheme": "xx.nothing"}, "params"),
        ("customer", "name", "reference", {}, "params"),
        ("employee", "manager", "reference", {"domain": "customer"}, "params"),
        ("supplier", "bank_account", "unique", {"ignore_case": True}, "params"),
        ("customer", "credit_limit", "unique", {"ignore_case": True}, "params"),
    ],
)
def test_a_rule_that_cannot_be_applied_is_refused_with_the_reason(domain, field, kind, params, error):
    with pytest.raises(ValidationError) as refused:
        QualityRule(domain=domain, field=field, kind=kind, params=params).full_clean()

    assert error in refused.value.message_dict


@pytest.mark.parametrize(
    ("domain", "field", "kind", "params"),
    [
        ("supplier", "tax_id", "tax_id", {}),
        ("material", "name", "tax_id", {"country": "DE"}),
        ("customer", "tax_id", "tax_id", {"scheme": "cn.uscc"}),
        ("customer", "phone", "phone", {"country_field": "country"}),
        ("employee", "hire_date", "range", {"min": "1990-01-01", "max": "2100-12-31"}),
        ("employee", "manager", "reference", {"active": False}),
        ("customer", "attributes.segment", "regex", {"pattern": "[A-D]"}),
        ("customer", "email", "unique", {"ignore_case": True}),
    ],
)
def test_a_rule_that_can_be_applied_is_accepted(domain, field, kind, params):
    QualityRule(domain=domain, field=field, kind=kind, params=params).full_clean()
