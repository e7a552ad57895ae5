"""``manage.py sync SOURCE DOMAIN [--full] [--dry-run]``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connectors.models import SyncFailure, SyncRun, SyncState
from masterdata.models import ChangeEvent, Conflict, Customer, DuplicateSuspect, SourceLink
from tests.connectors.fakes import data

WRITTEN = (Customer, Customer.history.model, SourceLink, ChangeEvent, Conflict, DuplicateSuspect, SyncRun, SyncState,
           SyncFailure)  # fmt: skip


def sync(*args: str) -> str:
    out = StringIO()
    call_command("sync", *args, stdout=out)
    return out.getvalue()


def footprint() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITTEN} | {
        "versions": sum(Customer.objects.values_list("version", flat=True)),
        "links seen": SourceLink.objects.filter(last_seen_at__isnull=False).count(),
    }


def test_the_command_pulls_in_the_foreground_with_progress(seed_crm):
    output = sync("crm", "customer")

    lines = output.splitlines()
    assert lines[0].startswith("[##########--------------------] 10/30 page 1 · fetched 10 created 10 ")
    assert lines[2].startswith("[##############################] 30/30 page 3 · fetched 30 created 30 ")
    run = SyncRun.objects.get()
    assert lines[3].startswith(f"Run #{run.pk} succeeded in ")
    assert run.trigger == "command" and Customer.objects.count() == 30


def test_a_dry_run_prints_the_plan_and_writes_nothing(seed_crm, crm):
    before = footprint()

    output = sync("crm", "customer", "--dry-run")

    assert footprint() == before
    assert "Dry run of crm · customer — nothing was written." in output
    assert "new: 30  changed: 0  unchanged: 0  conflicts: 0  duplicate suspects: 0  failures: 0" in output
    assert "new records: C1001, C1002," in output


def test_a_dry_run_after_changes_lists_the_changes_per_field_and_the_failures(seed_crm, crm):
    sync("crm", "customer")
    crm.records[3].update(name="Renamed", credit_score=1, updated_at=data.START + timedelta(days=2))
    crm.records[8]["name"] = "Also renamed"
    crm.records[9]["last_order_date"] = "soon"
    before = footprint()

    output = sync("crm", "customer", "--dry-run")

    assert footprint() == before
    assert "new: 0  changed: 2  unchanged: 27  conflicts: 0  duplicate suspects: 0  failures: 1" in output
    assert "changes name: 2 (C1004, C1009)" in output
    assert "changes credit_rating: 1 (C1004)" in output
    assert "failure [validate] C1010: last_transaction_date: " in output


def test_a_full_dry_run_counts_what_would_vanish(seed_crm, crm):
    sync("crm", "customer")
    crm.records.pop(0)

    output = sync("crm", "customer", "--full", "--dry-run")

    assert "vanished: 1" in output
    assert not SourceLink.objects.filter(status="vanished").exists()


def test_a_failed_run_is_an_error_of_the_command(seed_crm, crm):
    crm.fail(401, times=5)

    with pytest.raises(CommandError, match="AuthError"):
        sync("crm", "customer")


def test_unknown_sources_and_domains_are_refused(seed_crm):
    with pytest.raises(CommandError, match="No source system 'nope'"):
        sync("nope", "customer")
    with pytest.raises(CommandError, match="Unknown domain 'planet'"):
        sync("crm", "planet")
