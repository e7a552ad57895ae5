"""The failure queue: a bad record never stops a batch; failing again is the same failure; success resolves."""

from __future__ import annotations

from connectors.models import FailureStage, FailureStatus, SyncFailure, SyncRunStatus
from connectors.services import failures, pipeline
from masterdata.models import Customer, SourceLink
from tests.connectors.fakes import CrmFake, data
from tests.connectors.pipeline.conftest import SEED_CRM_FIELDS, crm_source


def crm_with_a_bad_date() -> CrmFake:
    records = data.crm_customers(12)
    records[4]["last_order_date"] = "last tuesday"
    return CrmFake(records)


def test_a_record_of_the_wrong_type_goes_to_the_queue_and_the_rest_are_created(db):
    with crm_with_a_bad_date() as crm:
        run = pipeline.pull(crm_source(crm), "customer").run

    assert (run.status, run.fetched, run.created, run.failed) == (SyncRunStatus.PARTIAL, 12, 11, 1)
    failure = SyncFailure.objects.get()
    assert (failure.stage, failure.source_key, failure.status, failure.attempts) == ("validate", "C1005", "open", 1)
    assert failure.payload["last_order_date"] == "last tuesday" and failure.payload["id"] == "C1005"
    assert "last_transaction_date" in failure.errors
    assert failure.error.startswith("last_transaction_date: ") and failure.run == run
    assert not Customer.objects.filter(code="C1005").exists()
    assert not SourceLink.objects.filter(source_key="C1005").exists()


def test_failing_again_updates_the_same_failure_and_a_later_success_resolves_it(db):
    with crm_with_a_bad_date() as crm:
        source = crm_source(crm)
        pipeline.pull(source, "customer")
        second = pipeline.pull(source, "customer").run

        failure = SyncFailure.objects.get()
        assert (failure.attempts, failure.status, failure.run) == (2, FailureStatus.OPEN, second)
        assert failure.last_failed_at > failure.first_failed_at

        crm.records[4]["last_order_date"] = "2023-12-24"
        third = pipeline.pull(source, "customer").run

    failure.refresh_from_db()
    assert (third.status, third.created, third.failed) == (SyncRunStatus.SUCCEEDED, 1, 0)
    assert (failure.status, failure.attempts, failure.closed_at is not None) == (FailureStatus.RESOLVED, 2, True)
    assert str(Customer.objects.get(code="C1005").last_transaction_date) == "2023-12-24"


def test_a_transform_that_cannot_take_a_value_is_a_map_failure(db):
    records = data.crm_customers(5)
    records[2]["last_order_date"] = "01/02/2024"
    fields = [
        {"source": "id", "target": "code"},
        {"source": "name", "target": "name"},
        {"source": "last_order_date", "target": "last_transaction_date",
         "transforms": [{"op": "date", "format": "%Y-%m-%d"}]},
    ]  # fmt: skip
    with CrmFake(records) as crm:
        run = pipeline.pull(crm_source(crm, fields=fields), "customer").run

    assert (run.created, run.failed, run.status) == (4, 1, SyncRunStatus.PARTIAL)
    failure = SyncFailure.objects.get()
    assert (failure.stage, failure.source_key) == (FailureStage.MAP, "C1003")
    assert failure.errors == {
        "last_transaction_date": ["last_transaction_date: '01/02/2024' is not a date in the date format '%Y-%m-%d'"]
    }


def test_a_record_without_a_key_is_queued_once_by_its_payload(db):
    records = data.crm_customers(3)
    del records[1]["id"]
    with CrmFake(records) as crm:
        source = crm_source(crm)
        pipeline.pull(source, "customer")
        pipeline.pull(source, "customer")

    failure = SyncFailure.objects.get()
    assert (failure.stage, failure.source_key, failure.attempts) == (FailureStage.MAP, "", 2)
    assert failure.fingerprint.startswith("payload:")


def test_retrying_puts_the_stored_payload_through_again(db):
    with crm_with_a_bad_date() as crm:
        source = crm_source(crm)
        pipeline.pull(source, "customer")
    failure = SyncFailure.objects.get()

    assert pipeline.retry_failures([failure.pk]) == {"retried": 1, "resolved": 0, "failed": 1, "locked": 0}
    failure.refresh_from_db()
    assert failure.attempts == 2

    source.mappings.update(
        field_map=[
            *({"source": k, "target": v} for k, v in SEED_CRM_FIELDS.items() if v != "last_transaction_date"),
        ]
    )
    assert pipeline.retry_failures([failure.pk])["resolved"] == 1
    failure.refresh_from_db()
    assert failure.status == FailureStatus.RESOLVED
    assert Customer.objects.get(code="C1005").last_transaction_date is None


def test_a_steward_discards_a_failure_and_who_did_it_is_kept(db, superuser):
    with crm_with_a_bad_date() as crm:
        pipeline.pull(crm_source(crm), "customer")
    failure = SyncFailure.objects.get()

    assert failures.discard([failure.pk], user=superuser, note="obsolete customer") == 1

    failure.refresh_from_db()
    assert (failure.status, failure.closed_by, failure.note) == (
        FailureStatus.DISCARDED,
        superuser,
        "obsolete customer",
    )


def test_within_one_batch_the_later_version_of_a_record_wins_even_when_it_fails(db):
    records = data.crm_customers(3)
    records.append({**records[1], "last_order_date": "garbage", "name": "Newer but broken"})
    with CrmFake(records) as crm:
        run = pipeline.pull(crm_source(crm), "customer").run

    assert (run.fetched, run.created, run.failed) == (4, 2, 1)
    failure = SyncFailure.objects.get()
    assert (failure.source_key, failure.status, failure.payload["name"]) == ("C1002", "open", "Newer but broken")
    assert not Customer.objects.filter(code="C1002").exists()


def test_a_source_key_too_long_to_store_is_a_failure_of_its_own_with_the_full_key_in_the_payload(db):
    records = data.crm_customers(3)
    long_key = "C" + "7" * 260
    records[1]["id"] = long_key
    with CrmFake(records) as crm:
        source = crm_source(crm)
        run = pipeline.pull(source, "customer").run
        again = pipeline.pull(source, "customer").run

    assert (run.status, run.created, run.failed) == (SyncRunStatus.PARTIAL, 2, 1)
    assert (again.status, again.failed) == (SyncRunStatus.PARTIAL, 1)
    failure = SyncFailure.objects.get()
    assert (failure.stage, failure.status, failure.attempts) == (FailureStage.VALIDATE, FailureStatus.OPEN, 2)
    assert failure.payload["id"] == long_key
    assert len(failure.source_key) <= 200 and failure.source_key.startswith(long_key[:100])
    assert "source_key" in failure.errors and "200 characters" in failure.error
    assert not SourceLink.objects.filter(source=source, source_key__startswith="C777").exists()


def test_two_long_keys_sharing_their_first_200_characters_stay_two_failures(db):
    records = data.crm_customers(2)
    records[0]["id"] = "K" * 250 + "-one"
    records[1]["id"] = "K" * 250 + "-two"
    with CrmFake(records) as crm:
        run = pipeline.pull(crm_source(crm), "customer").run

    assert run.failed == 2
    stored = sorted(SyncFailure.objects.values_list("source_key", flat=True))
    assert len(set(stored)) == 2 and all(len(key) <= 200 for key in stored)
    assert sorted(f.payload["id"] for f in SyncFailure.objects.all()) == ["K" * 250 + "-one", "K" * 250 + "-two"]
