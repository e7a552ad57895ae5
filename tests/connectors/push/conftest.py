"""Push targets wired to the fake systems, a clock the tests move, and helpers that count what arrived.

Push tests commit (``transactional_db``): the dispatcher reads the change feed, which serves
only committed events, as a real dispatcher would.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import Max
from django.utils import timezone

from connectors.models import Delivery, DeliveryStatus, PushTarget
from connectors.protocols import capabilities
from connectors.services import dispatch, push
from masterdata.models import Customer, SourceDomain, SyncDirection
from masterdata.services import golden
from tests.connectors.fakes import CrmFake
from tests.connectors.pipeline.conftest import connect, make_source
from tests.test_celery_worker import worker  # noqa: F401  (a real Celery worker on the test database)

#: The CRM receives customers as its API names them.
CRM_PUSH_MAP = [
    {"golden": "code", "target": "code"},
    {"golden": "name", "target": "name"},
    {"golden": "email", "target": "email"},
    {"golden": "credit_limit", "target": "credit_limit"},
]


@dataclass
class Clock:
    """The time a test says it is: retries are driven by moving it, never by sleeping.

    It never runs behind the real clock (changes are stamped with real time).
    """

    offset: timedelta = timedelta(0)

    @property
    def now(self) -> datetime:
        return timezone.now() + self.offset

    def advance(self, seconds: float) -> datetime:
        self.offset += timedelta(seconds=seconds)
        return self.now

    def to(self, moment: datetime) -> datetime:
        self.offset += max(timedelta(0), moment - self.now)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def nothing_learnt():
    """What targets said about $batch and bulk is remembered per process: each test starts afresh."""
    capabilities.forget_all()
    yield
    capabilities.forget_all()


@pytest.fixture(autouse=True)
def enqueued(request, monkeypatch) -> list[tuple[str, Any]]:
    """What would have been handed to workers after a commit (tests drive delivery themselves).

    Tests marked ``worker`` let it go to their real worker.
    """
    calls: list[tuple[str, Any]] = []
    if request.node.get_closest_marker("worker"):
        return calls
    monkeypatch.setattr(dispatch, "_enqueue", lambda event_ids: calls.append(("dispatch", event_ids)))
    monkeypatch.setattr(dispatch, "enqueue_targets", lambda target_ids: calls.append(("deliver", target_ids)))
    return calls


def push_target(
    source,
    *,
    domain: str = "customer",
    resource: str,
    key_field: str,
    field_map: Any,
    direction: str = SyncDirection.BOTH,
    **fields: Any,
) -> PushTarget:
    SourceDomain.objects.update_or_create(source=source, domain=domain, defaults={"direction": direction})
    target = PushTarget(source=source, domain=domain, resource=resource, key_field=key_field, field_map=field_map,
                        **fields)  # fmt: skip
    target.full_clean()
    target.save()
    return target


def crm_target(fake: CrmFake, *, code: str = "crm", timeout: float = 5, **fields: Any) -> PushTarget:
    source = make_source(code, kind="crm")
    connect(source, "rest", fake.base_url, auth_type="bearer", secret=CrmFake.token, timeout_seconds=timeout)
    fields.setdefault("lookup_field", "code")
    return push_target(source, resource="/api/customers", key_field="id", field_map=CRM_PUSH_MAP, **fields)


@pytest.fixture
def crm_push(transactional_db, crm):
    return crm_target(crm)


def change(record, ctx: golden.ChangeContext | None = None, **values: Any):
    return golden.update(record, values, ctx or golden.ChangeContext(reason="test"))


def new_customer(code: str, name: str, **values: Any) -> Customer:
    return golden.create(Customer, {"code": code, "name": name, **values}, golden.ChangeContext(reason="test"))


def run_until_settled(target: PushTarget, clock: Clock, *, rounds: int = 30) -> int:
    """Dispatch, then deliver — moving the clock to each next attempt — until nothing is pending."""
    dispatch.dispatch_pending()
    for used in range(1, rounds + 1):
        push.deliver_due(target, now=clock.now)
        pending = Delivery.objects.filter(target=target, status=DeliveryStatus.PENDING)
        if not pending.exists():
            return used
        # A record is due when all its pending deliveries are (a new change waits with one in backoff).
        clock.to(min(pending.values("golden_id").annotate(due=Max("next_attempt_at")).values_list("due", flat=True)))
    raise AssertionError(f"deliveries still pending after {rounds} rounds")


def creates_per_code(fake: CrmFake) -> Counter:
    return Counter(body.get("code") for op, _key, body in fake.writes if op == "create")


def assert_crm_mirrors(fake: CrmFake, records) -> None:
    """Each golden record is in the CRM exactly once, holding its current values."""
    by_code = Counter(r.get("code") for r in fake.records if r.get("code"))
    for record in records:
        record.refresh_from_db()
        assert by_code[record.code] == 1, f"{record.code} is in the CRM {by_code[record.code]} times"
        held = next(r for r in fake.records if r.get("code") == record.code)
        assert (held["name"], held["email"]) == (record.name, record.email), record.code
