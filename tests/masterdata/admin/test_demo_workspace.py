"""The demo shows the whole steward workspace: each demo steward may resolve their company's work.

Seeded once for the module (the real ``seed_demo`` service: files, pulls, scan, quality check)
and rolled back afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from connectors.models import SyncFailure
from connectors.services import demo as landscape
from masterdata.models import Customer, DuplicateSuspect, QualityScore
from masterdata.services import access

from .conftest import browser

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    drop_dir: Path = tmp_path_factory.mktemp("demo-drop")
    with django_db_blocker.unblock(), transaction.atomic():
        yield landscape.seed(admin_password="Admin-pw-1", demo_password="Steward-pw-1", drop_dir=drop_dir)
        transaction.set_rollback(True)


def user(name: str):
    return get_user_model().objects.get(username=name)


def test_demo_stewards_may_resolve_their_company_only(seeded):
    for name, company in (("steward_de", "MER-DE"), ("steward_cn", "MER-CN"), ("steward_us", "MER-US")):
        grants = {(action, unit.code) for action, unit in access.grants_of(user(name))}
        assert grants == {("view", company), ("change", company), ("resolve", company)}
    integration = {action for action, _unit in access.grants_of(user("erp-integration"))}
    assert integration == {"view", "change"}  # a system account decides nothing


def test_a_demo_steward_has_the_failure_queue_in_the_menu(seeded):
    index = browser(user("steward_de")).get(reverse("admin:index")).content.decode()

    assert reverse("admin:connectors_syncfailure_changelist") in index
    assert reverse("admin:masterdata_conflict_changelist") in index
    assert reverse("admin:masterdata_duplicatesuspect_changelist") in index


def test_each_company_has_a_customer_typed_in_twice_for_a_steward_to_merge(seeded):
    twins = [
        pair for pair in DuplicateSuspect.objects.filter(domain="customer", status="open") if pair.score == 100
    ]
    companies = {Customer.objects.get(pk=pair.golden_id_a).owner_org.code[:6] for pair in twins}
    assert len(twins) == 3 and companies == {"MER-DE", "MER-CN", "MER-US"}
    client = browser(user("steward_de"))
    listed = client.get(reverse("admin:masterdata_duplicatesuspect_changelist"))
    pairs = list(listed.context["cl"].result_list)
    assert len(pairs) == 1
    pair = pairs[0]
    a, b = Customer.objects.get(pk=pair.golden_id_a), Customer.objects.get(pk=pair.golden_id_b)
    assert a.address == b.address and not b.tax_id and a.owner_org.code.startswith("MER-DE")
    compare = client.get(reverse("admin:masterdata_duplicatesuspect_change", args=[pair.pk]))
    assert compare.context["may_decide"]


def test_the_demo_records_carry_quality_scores_and_the_twins_lack_a_tax_number(seeded):
    assert QualityScore.objects.filter(domain="customer").count() == Customer.objects.count()
    assert seeded.work.rules_created > 0 and seeded.work.suspects_found >= 3
    low = QualityScore.objects.filter(domain="customer", score__lt=100).values_list("golden_id", flat=True)
    assert set(Customer.objects.filter(pk__in=low).values_list("tax_id", flat=True)) == {""}


def test_the_credit_limit_typo_is_fixed_by_correcting_the_letter(seeded):
    failure = SyncFailure.objects.get(source_key="CUS-900001")
    typed = failure.payload["KLIMK"]

    assert "O" in typed and typed.replace("O", "0").replace(".", "", 1).isdigit()


STEWARD_OF = {"MER-DE": "steward_de", "MER-CN": "steward_cn", "MER-US": "steward_us"}
OPEN_QUEUE = f"{reverse('admin:connectors_syncfailure_changelist')}?status__exact=open"


def queue_of(name: str) -> set[int]:
    response = browser(user(name)).get(OPEN_QUEUE)
    assert response.status_code == 200
    return {failure.pk for failure in response.context["cl"].result_list}


def test_the_crm_refusing_a_known_customers_email_is_on_the_customers_page_and_with_its_steward(seeded):
    failure = SyncFailure.objects.get(source__code="crm", status="open")
    customer = Customer.objects.get(code=failure.source_key)  # the CRM has no link to it yet: its code matched
    steward = STEWARD_OF[customer.owner_org.code[:6]]

    page = browser(user(steward)).get(reverse("admin:masterdata_customer_record", args=[customer.pk]))

    assert (failure.golden_id, failure.owner_org_id) == (customer.pk, customer.owner_org_id)
    assert failure.pk in {row["failure"].pk for row in page.context["failures"]}
    assert failure.pk in queue_of(steward)
    assert all(failure.pk not in queue_of(other) for other in STEWARD_OF.values() if other != steward)


def test_a_refused_new_erp_customer_is_with_the_steward_of_the_company_its_row_names(seeded):
    failure = SyncFailure.objects.get(source_key="CUS-900001")  # the hub never created it
    steward = STEWARD_OF[failure.owner_org.code[:6]]

    assert failure.golden_id is None and failure.pk in queue_of(steward)
    assert all(failure.pk not in queue_of(other) for other in STEWARD_OF.values() if other != steward)
