"""A real Celery worker pushes a committed change to a target: the after-commit path, end to end."""

from __future__ import annotations

import time

import pytest

from connectors.models import Delivery, DeliveryStatus
from tests.connectors.fakes import CrmFake
from tests.connectors.push.conftest import change, crm_target, new_customer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
TIMEOUT = 30


def wait_for(condition, what: str, process) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {TIMEOUT} s; worker log:\n{process.log}")


def test_a_committed_change_reaches_the_target_through_a_worker_without_a_sweep(worker, settings):
    process, queue = worker
    settings.MDM_PUSH_QUEUE = queue
    with CrmFake([]) as crm:
        target = crm_target(crm)

        customer = new_customer("C-1", "Alpha", email="a@example.com")  # dispatched once the commit is done
        wait_for(lambda: len(crm.writes) == 1, "the create did not arrive", process)
        change(customer, name="Alpha Ltd")
        wait_for(lambda: len(crm.writes) == 2, "the update did not arrive", process)

    assert [(op, body.get("name")) for op, _key, body in crm.writes] == [("create", "Alpha"), ("update", "Alpha Ltd")]
    wait_for(
        lambda: not Delivery.objects.filter(target=target).exclude(status=DeliveryStatus.DELIVERED).exists(),
        "the deliveries were not recorded as delivered",
        process,
    )
    assert "connectors.tasks.dispatch_event" in process.log
