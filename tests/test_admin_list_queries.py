"""Every change list of the hub's own apps costs as many queries for 12 rows as for 3: no query per row.

Each row is built with related rows of its own (its own source, org unit, user, target…), so a
column that reads a foreign key without ``select_related`` shows up as extra queries. A model
registered in the admin without a row builder here fails the test: a new list is covered from
the day it appears.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.conftest import make_steward
from tests.connectors.admin.conftest import queued
from tests.factories import CustomerFactory, OrgUnitFactory, SourceSystemFactory, UserFactory
from tests.masterdata.admin.conftest import browser, build_record

PROJECT_APPS = ("masterdata", "connectors", "sixth_domain")


def _unit(org, i: int):
    return OrgUnitFactory(code=f"LQ-{i:03d}", parent=org.a)


def _customer(org, i: int):
    return CustomerFactory(code=f"LQC-{i:03d}", owner_org=_unit(org, i))


def _target(i: int):
    from connectors.models import PushTarget

    return PushTarget.objects.create(
        source=SourceSystemFactory(), domain="customer", resource="/c", key_field="id", field_map={"code": "code"}
    )


def _subscription(i: int):
    from connectors.models import WebhookSubscription

    return WebhookSubscription.objects.create(name=f"hook-{i}", url="https://consumer.example/h", secret="s3cret",
                                              owner=UserFactory())  # fmt: skip


def _domain_record(label: str):
    def build(org, i: int):
        from masterdata.registry import registry

        return build_record(registry.for_model(apps.get_model(label)), org.a, 500 + i)

    return build


def _conflict(org, i: int):
    from masterdata.models import Conflict

    record = _customer(org, i)
    return Conflict.objects.create(
        domain="customer", golden_id=record.pk, field="name", reason="equal_trust", owner_org=record.owner_org
    )


def _suspect(org, i: int):
    from masterdata.models import DuplicateSuspect

    first, second = _customer(org, i), _customer(org, 100 + i)
    return DuplicateSuspect.objects.create(
        domain="customer", golden_id_a=first.pk, golden_id_b=second.pk, score=90, owner_org=first.owner_org
    )


def _merge(org, i: int):
    from masterdata.models import MergeRecord

    first, second = _customer(org, i), _customer(org, 100 + i)
    return MergeRecord.objects.create(
        domain="customer", survivor_id=first.pk, loser_id=second.pk, owner_org=first.owner_org, merged_by=UserFactory()
    )


def _quality_rule(org=None, i: int = 0):
    from masterdata.models import QualityRule

    return QualityRule.objects.create(domain="customer", field="email", kind="required")


def _quality_issue(org, i: int):
    from masterdata.models import QualityIssue

    record = _customer(org, i)
    return QualityIssue.objects.create(domain="customer", golden_id=record.pk, rule=_quality_rule(), field="email",
                                       message="required", owner_org=record.owner_org)  # fmt: skip


def _row_builders() -> dict[str, Callable[[Any, int], Any]]:
    from connectors import models as c
    from masterdata import models as m
    from masterdata.services import access, tokens

    now = timezone.now()
    return {
        "connectors.Connection": lambda org, i: c.Connection.objects.create(
            source=SourceSystemFactory(), protocol="rest", base_url=f"https://erp{i}.example", secret=""
        ),
        "connectors.Delivery": lambda org, i: c.Delivery.objects.create(
            target=_target(i), domain="customer", golden_id=_customer(org, i).pk, version=1
        ),
        "connectors.Incident": lambda org, i: c.Incident.objects.create(
            kind=c.IncidentKind.values[0], key=f"k{i}", title=f"incident {i}"
        ),
        "connectors.Mapping": lambda org, i: c.Mapping.objects.create(
            source=SourceSystemFactory(),
            domain="customer",
            fetch_spec={"resource": "/c", "key_field": "id"},
            field_map={"id": "code"},
        ),
        "connectors.PushTarget": lambda org, i: _target(i),
        "connectors.SyncFailure": lambda org, i: queued(golden=_customer(org, i), key=f"LQ{i}", push_target=_target(i)),
        "connectors.SyncRun": lambda org, i: c.SyncRun.objects.create(source=SourceSystemFactory(), domain="customer"),
        "connectors.SyncState": lambda org, i: c.SyncState.objects.create(
            source=SourceSystemFactory(), domain="customer"
        ),
        "connectors.WebhookDelivery": lambda org, i: c.WebhookDelivery.objects.create(
            subscription=_subscription(i), batch_id=f"b{i}", body="{}", position_after=""
        ),
        "connectors.WebhookSubscription": lambda org, i: _subscription(i),
        "masterdata.ApiToken": lambda org, i: tokens.issue(UserFactory(), f"token {i}"),
        "masterdata.AuditEvent": lambda org, i: m.AuditEvent.objects.create(
            actor=UserFactory(), action=m.AuditAction.values[0], org_unit_id=org.a.pk
        ),
        "masterdata.Conflict": _conflict,
        "masterdata.DuplicateSuspect": _suspect,
        "masterdata.MergeRecord": _merge,
        "masterdata.OrgUnitUserPermission": lambda org, i: access.grant(UserFactory(), "view", _unit(org, i)),
        "masterdata.OrgUnitGroupPermission": lambda org, i: access.grant(
            Group.objects.create(name=f"group {i}"), "view", _unit(org, i)
        ),
        "masterdata.QualityIssue": _quality_issue,
        "masterdata.QualityScore": lambda org, i: m.QualityScore.objects.create(
            domain="customer", golden_id=_customer(org, i).pk, score=50 + i, owner_org=_unit(org, 200 + i)
        ),
        "masterdata.QualityRule": _quality_rule,
        "masterdata.SourceLink": lambda org, i: m.SourceLink.objects.create(
            source=SourceSystemFactory(),
            domain="customer",
            source_key=f"K{i}",
            golden_id=_customer(org, i).pk,
            last_seen_at=now,
        ),
        "masterdata.SourceSystem": lambda org, i: m.SourceDomain.objects.create(
            source=SourceSystemFactory(), domain="customer"
        ),
        **{model._meta.label: _domain_record(model._meta.label) for model in admin.site._registry if _is_golden(model)},
    }


def _is_golden(model) -> bool:
    from masterdata.registry import registry

    try:
        registry.for_model(model)
    except LookupError:
        return False
    return True


def project_lists() -> list[str]:
    return sorted(model._meta.label for model in admin.site._registry if model._meta.app_label in PROJECT_APPS)


def queries_for(client, url: str) -> tuple[int, int]:
    """(queries, rows listed) of one request of the list."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, follow=True)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    html = response.content.decode()
    if 'id="result_list"' not in html:
        return len(captured), 0
    body = html[html.index("<tbody", html.index('id="result_list"')) :]
    return len(captured), body[: body.index("</tbody>")].count("<tr")


@pytest.mark.parametrize("label", project_lists())
def test_a_change_list_costs_the_same_queries_for_3_and_12_rows(label, org, superuser, stewards_group):
    builders = _row_builders()
    assert label in builders, f"{label} is listed in the admin: add a row builder to {__name__}"
    model = apps.get_model(label)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    steward = make_steward("lq_steward", org.a, stewards_group, actions=("view", "change", "resolve"))
    # As the demo's stewards: the source links of their records (a list scoped like the records).
    links = Permission.objects.get(content_type__app_label="masterdata", codename="view_sourcelink")
    steward.user_permissions.add(links)
    clients = {"superuser": browser(superuser), "steward": browser(steward)}
    build = builders[label]

    for i in range(3):
        build(org, i)
    few = {name: queries_for(client, url) for name, client in clients.items() if _sees(client, url)}
    for i in range(3, 12):
        build(org, i)
    many = {name: queries_for(client, url) for name in few for client in [clients[name]]}

    assert "superuser" in few and many["superuser"][1] > few["superuser"][1] >= 3, f"{label}: rows not listed"
    for name in few:
        queries = (few[name][0], many[name][0])
        assert queries[1] == queries[0], f"{label} as {name}: {queries[0]} queries for 3 rows, {queries[1]} for 12"


def _sees(client, url: str) -> bool:
    return client.get(url, follow=True).status_code == 200
