"""Failure-queue fixtures: stewards who may resolve, and failures of records in and out of their scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from connectors.models import FailureClass, FailureDirection, FailureStage, SyncFailure
from connectors.services import dispatch, failures
from tests.conftest import make_steward
from tests.factories import SourceSystemFactory


@pytest.fixture(autouse=True)
def no_broker(monkeypatch) -> None:
    """Changes committed here are delivered by the tests themselves, not handed to Celery workers."""
    monkeypatch.setattr(dispatch, "_enqueue", lambda event_ids: None)
    monkeypatch.setattr(dispatch, "enqueue_targets", lambda target_ids: None, raising=False)


@pytest.fixture
def resolver_a(org, stewards_group):
    """A steward of company A who may also resolve failed syncs there."""
    return make_steward("resolver_a", org.a, stewards_group, actions=("view", "change", "resolve"))


@pytest.fixture
def resolver_b(org, stewards_group):
    return make_steward("resolver_b", org.b, stewards_group, actions=("view", "change", "resolve"))


def queued(source=None, *, golden=None, key: str = "K-1", **fields: Any) -> SyncFailure:
    """An open inbound failure (of ``golden``'s record when given) written straight into the queue.

    Owned as the service records it: by the golden record's org unit, else by the group.
    """
    source = source or SourceSystemFactory()
    now = timezone.now()
    domain = fields.get("domain", "customer")
    owner = failures.record_owner(domain, golden.pk) if golden is not None else failures.group_root_id()
    values = {
        "source": source, "domain": "customer", "stage": FailureStage.VALIDATE, "source_key": key, "fingerprint": key,
        "payload": {"id": key, "name": "Broken"}, "error": "email: Enter a valid email address.",
        "errors": {"email": ["Enter a valid email address."]}, "classification": FailureClass.BAD_DATA,
        "golden_id": golden.pk if golden is not None else None, "direction": FailureDirection.INBOUND,
        "first_failed_at": now, "last_failed_at": now, "owner_org_id": owner,
    }  # fmt: skip
    return SyncFailure.objects.create(**(values | fields))
