"""The steward workspace for outbound sync: pause, resume and replay targets; secrets never shown."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from connectors.models import Delivery, DeliveryTrigger, PushTarget, WebhookSubscription
from tests.connectors.push.conftest import crm_target, new_customer

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/connectors/pushtarget/"


@pytest.fixture
def admin_client_of(client, superuser):
    client.force_login(superuser)
    return client


def act(client, action: str, target: PushTarget):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [target.pk]}, follow=True)


def test_a_target_is_paused_and_resumed_from_the_admin_with_an_audit_entry(admin_client_of, crm):
    target = crm_target(crm)

    assert act(admin_client_of, "pause", target).status_code == 200
    target.refresh_from_db()
    assert target.paused and "paused in the admin" in target.paused_reason
    act(admin_client_of, "resume", target)
    target.refresh_from_db()
    assert not target.paused
    assert LogEntry.objects.filter(object_id=str(target.pk)).count() == 2


def test_replay_from_the_admin_queues_every_record_of_the_domain(admin_client_of, crm):
    target = crm_target(crm)
    for i in range(3):
        new_customer(f"C-{i}", f"Customer {i}")

    act(admin_client_of, "replay_everything", target)

    assert Delivery.objects.filter(target=target, trigger=DeliveryTrigger.REPLAY).count() == 3


def test_a_webhook_secret_is_write_only_in_the_admin(admin_client_of, superuser):
    subscription = WebhookSubscription.objects.create(
        name="erp", url="https://erp.example.com/hooks", owner=superuser, secret="s3cr3t-value"
    )

    page = admin_client_of.get(f"/admin/connectors/webhooksubscription/{subscription.pk}/change/")

    assert page.status_code == 200
    assert "s3cr3t-value" not in page.content.decode() and "stored (encrypted)" in page.content.decode()
