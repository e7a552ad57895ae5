"""Whose failure is it: each failure carries the org unit that owns it, and the queue is scoped by it.

A record the hub refused before it ever created it belongs to the org unit its mapped values name
(else the group); a refused change of a record the hub holds belongs to that record's owner, and
names the record even when the source had no link to it yet (its business key matched exactly).
"""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as global_apps
from django.urls import reverse
from django.utils import timezone

from connectors.models import FailureClass, FailureDirection, FailureStage, FailureStatus, PushTarget, SyncFailure
from connectors.services import pipeline, push
from masterdata.models import Customer, SourceLink
from tests.connectors.admin.conftest import queued
from tests.connectors.fakes import CrmFake, data
from tests.connectors.pipeline.conftest import SEED_CRM_FIELDS, crm_source
from tests.factories import CustomerFactory, SourceSystemFactory
from tests.masterdata.admin.conftest import admin_url, browser

QUEUE = f"{reverse('admin:connectors_syncfailure_changelist')}?status__exact=open"


def item_url(failure: SyncFailure) -> str:
    return admin_url(SyncFailure, "change", failure.pk)


@pytest.fixture
def crm_failures(org):
    """The CRM refuses four e-mail addresses: of new records of A-SALES and of an unknown unit, of a known B record.

    C1004 is held by the hub already (company B), but the CRM has no link to it: its code matches.
    """
    known = CustomerFactory(code="C1004", owner_org=org.b)
    records = data.crm_customers(5)
    owners = ["A", "A-SALES", "NO-SUCH-UNIT", "A", "A"]
    for record, owner in zip(records, owners, strict=True):
        record["company"] = owner
    for index in (1, 2, 3):
        records[index]["email"] = "einkauf(at)firma"
    with CrmFake(records) as crm:
        source = crm_source(crm, code="crm-own", fields={**SEED_CRM_FIELDS, "email": "email", "company": "owner_org"})
        pipeline.pull(source, "customer")
    by_key = {f.source_key: f for f in SyncFailure.objects.filter(status=FailureStatus.OPEN)}
    assert set(by_key) == {"C1002", "C1003", "C1004"}
    return type("CrmFailures", (), {"known": known, **{key.lower(): f for key, f in by_key.items()}})


def test_a_refused_new_record_belongs_to_the_org_unit_its_values_name_else_to_the_group(org, crm_failures):
    assert (crm_failures.c1002.golden_id, crm_failures.c1002.owner_org) == (None, org.a_sales)
    assert (crm_failures.c1003.golden_id, crm_failures.c1003.owner_org) == (None, org.group)


def test_a_refused_change_of_a_known_record_names_it_and_belongs_to_its_owner_without_a_link(org, crm_failures):
    assert not SourceLink.objects.filter(source_key="C1004").exists()

    assert crm_failures.c1004.golden_id == crm_failures.known.pk
    assert crm_failures.c1004.owner_org == org.b  # the record's owner wins over the unit the source names


def test_a_company_steward_works_the_inbound_failures_of_their_company_only(resolver_a, resolver_b, crm_failures):
    html_a = browser(resolver_a).get(QUEUE).content.decode()
    html_b = browser(resolver_b).get(QUEUE).content.decode()

    assert "C1002" in html_a and "C1003" not in html_a and "C1004" not in html_a
    assert "C1004" in html_b and "C1002" not in html_b and "C1003" not in html_b
    assert browser(resolver_a).get(item_url(crm_failures.c1002)).status_code == 200
    assert browser(resolver_b).get(item_url(crm_failures.c1002)).status_code == 404


def test_a_crafted_bulk_decision_on_another_companys_failure_changes_nothing(resolver_b, crm_failures):
    theirs = crm_failures.c1002

    browser(resolver_b).post(
        QUEUE, {"action": "discard", "_selected_action": [theirs.pk], "apply": "yes", "reason": "not mine"}
    )

    theirs.refresh_from_db()
    assert theirs.status == FailureStatus.OPEN


def test_the_known_records_page_lists_the_failure_its_code_matched(superuser, crm_failures):
    response = browser(superuser).get(admin_url(Customer, "record", crm_failures.known.pk))

    assert crm_failures.c1004.pk in {row["failure"].pk for row in response.context["failures"]}


def test_the_owner_filter_lists_a_units_failures_by_the_owner_column(superuser, org, crm_failures):
    html = browser(superuser).get(f"{QUEUE}&owner_org={org.a.pk}").content.decode()

    assert "C1002" in html and "C1003" not in html and "C1004" not in html


def test_a_push_dead_letter_belongs_to_its_golden_records_owner(org):
    record = CustomerFactory(owner_org=org.a_sales)
    target = PushTarget.objects.create(
        source=SourceSystemFactory(), domain="customer", resource="/c", key_field="id", field_map={"code": "code"}
    )

    failure = push.park(target, record.pk, RuntimeError("503"), FailureClass.TRANSIENT, {}, None, 1, timezone.now())

    assert (failure.golden_id, failure.owner_org) == (record.pk, org.a_sales)


def test_the_migration_gives_existing_failures_an_owner(org):
    migration = importlib.import_module("connectors.migrations.0008_failure_owner_backfill")
    source = SourceSystemFactory()
    linked_record = CustomerFactory(owner_org=org.b)
    SourceLink.objects.create(source=source, domain="customer", source_key="LINKED", golden_id=linked_record.pk,
                              last_seen_at=timezone.now())  # fmt: skip
    pushed_record = CustomerFactory(owner_org=org.a_sales)
    linked = queued(source, key="LINKED")
    pushed = queued(source, golden=pushed_record, key="P", direction=FailureDirection.OUTBOUND, stage=FailureStage.PUSH)
    unknown = queued(source, key="NEW", last_failed_at=timezone.now() - timedelta(days=1))
    SyncFailure.objects.update(owner_org=None)  # as the rows were before the column

    migration.backfill_owners(global_apps, None)

    owners = dict(SyncFailure.objects.values_list("pk", "owner_org"))
    assert owners == {linked.pk: org.b.pk, pushed.pk: org.a_sales.pk, unknown.pk: org.group.pk}
    assert SyncFailure.objects.get(pk=linked.pk).golden_id == linked_record.pk
