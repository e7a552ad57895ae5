"""Mappings are validated on save with clear messages, and their schedules become beat tasks."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from connectors.models import Mapping
from tests.connectors.pipeline.conftest import SEED_CRM_FETCH, SEED_CRM_FIELDS, make_source


@pytest.fixture
def source(db):
    return make_source("crm", kind="crm")


def mapping(source, **fields) -> Mapping:
    values = {"fetch_spec": SEED_CRM_FETCH, "field_map": SEED_CRM_FIELDS, **fields}
    return Mapping(source=source, domain=values.pop("domain", "customer"), **values)


def errors_of(candidate: Mapping) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        candidate.full_clean()
    return caught.value.message_dict


def test_the_seed_crm_mapping_is_valid(source):
    candidate = mapping(source)

    candidate.full_clean()

    assert candidate.key_path == "id"
    assert candidate.spec().record_path == "data"


def test_an_unknown_golden_field_or_a_bad_path_is_named_in_the_message(source):
    errors = errors_of(mapping(source, field_map={"id": "code", "score": "credit_ratng", "a..b": "name"}))

    assert errors["field_map"] == [
        "entry 2 (score → credit_ratng): unknown golden field 'credit_ratng' of customer",
        "entry 3 (a..b → name): bad source path 'a..b'",
    ]


def test_a_fetch_spec_with_unknown_keys_or_without_a_key_field_is_refused(source):
    assert errors_of(mapping(source, fetch_spec={**SEED_CRM_FETCH, "recordpath": "data"}))["fetch_spec"] == [
        "Unknown fetch spec keys: recordpath."
    ]
    assert (
        "needs the key field"
        in errors_of(mapping(source, fetch_spec={"resource": "/x", "key_field": ""}))["fetch_spec"][0]
    )
    assert "incomplete" in errors_of(mapping(source, fetch_spec={"key_field": "id"}))["fetch_spec"][0]


def test_schedules_must_be_crontab_expressions(source):
    errors = errors_of(mapping(source, schedule="every 5 minutes", reconcile_schedule="0 3 * * 0"))

    assert list(errors) == ["schedule"] and errors["schedule"][0].startswith("Not a crontab expression")


def test_a_schedule_creates_and_updates_the_beat_task_that_pulls(source):
    saved = mapping(source, schedule="*/15 * * * *")
    saved.full_clean()
    saved.save()

    task = PeriodicTask.objects.get(pk=saved.pull_task_id)
    assert (task.task, json.loads(task.args), json.loads(task.kwargs)) == (
        "connectors.tasks.pull",
        [source.pk, "customer"],
        {"full": False, "trigger": "schedule"},
    )
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("*/15", "*", True)

    saved.schedule = "0 2 * * *"
    saved.reconcile_schedule = "30 3 * * 0"
    saved.save()

    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("0", "2")
    reconcile = PeriodicTask.objects.get(pk=Mapping.objects.get().reconcile_task_id)
    assert json.loads(reconcile.kwargs) == {"full": True, "trigger": "schedule"}
    assert reconcile.crontab.day_of_week == "0" and PeriodicTask.objects.count() == 2


def test_an_inactive_mapping_disables_its_tasks_and_an_empty_schedule_removes_one(source):
    saved = mapping(source, schedule="*/15 * * * *", reconcile_schedule="0 3 * * *")
    saved.save()
    saved.is_active = False
    saved.save()
    assert set(PeriodicTask.objects.values_list("enabled", flat=True)) == {False}

    saved.is_active = True
    saved.schedule = ""
    saved.save()

    assert saved.pull_task is None and Mapping.objects.get().pull_task_id is None
    assert list(PeriodicTask.objects.values_list("enabled", flat=True)) == [True]


def test_deleting_a_mapping_deletes_its_tasks(source):
    saved = mapping(source, schedule="*/15 * * * *", reconcile_schedule="0 3 * * *")
    saved.save()

    saved.delete()

    assert not PeriodicTask.objects.exists()
