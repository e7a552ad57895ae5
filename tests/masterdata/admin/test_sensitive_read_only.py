"""A read-only change form (view-only scope, a merged record) masks sensitive values like the editable one.

Django renders a read-only field from the record's attribute, which holds the clear value: the
form must leave sensitive fields out there and show the masked "sensitive values" row instead,
with the audited reveal link for users who hold ``view_sensitive``. Opening the page reveals
nothing, so it writes no reveal audit event.
"""

from __future__ import annotations

import pytest

from masterdata.models import AuditAction, AuditEvent, GoldenStatus
from masterdata.registry import registry
from masterdata.services import sensitive
from tests.conftest import make_steward

from .conftest import admin_url, browser

pytestmark = pytest.mark.django_db

#: A clear value per sensitive domain, long enough that its mask shows the last four characters.
CLEAR = {"supplier": "DE89370400440532013000", "employee": "11010519491231002X"}
SENSITIVE_DOMAINS = [pytest.param(d.name, id=d.name) for d in registry if d.sensitive_fields]


def record_of(domain_name: str, unit, code: str):
    domain = registry.get(domain_name)
    [name] = domain.sensitive_fields
    values = {"code": code, "name": f"Record {code}", domain.org_field: unit, name: CLEAR[domain_name]}
    return domain.model_class.objects.create(**values)


def merged_record(domain_name: str, unit):
    survivor = record_of(domain_name, unit, "SURVIVOR")
    loser = record_of(domain_name, unit, "MERGED")
    type(loser).objects.filter(pk=loser.pk).update(status=GoldenStatus.MERGED, merged_into=survivor)
    return loser


def open_change_form(user, record) -> str:
    response = browser(user).get(admin_url(record, "change", record.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html, "expected the read-only form"
    return html


def reveals() -> int:
    return AuditEvent.objects.filter(action=AuditAction.SENSITIVE_REVEALED).count()


@pytest.mark.parametrize("domain_name", SENSITIVE_DOMAINS)
def test_a_merged_record_shows_a_holder_the_mask_and_the_audited_reveal_link_not_the_value(
    org, stewards_group, domain_name
):
    holder = make_steward("holder", org.a, stewards_group, actions=("view", "change", "view_sensitive"))
    record = merged_record(domain_name, org.a)

    html = open_change_form(holder, record)

    assert CLEAR[domain_name] not in html
    assert sensitive.mask(CLEAR[domain_name]) in html
    assert admin_url(record, "reveal", record.pk) in html
    assert reveals() == 0


@pytest.mark.parametrize("domain_name", SENSITIVE_DOMAINS)
def test_a_view_only_holder_sees_the_mask_and_the_audited_reveal_link_not_the_value(org, stewards_group, domain_name):
    viewer = make_steward("viewer", org.a, stewards_group, actions=("view", "view_sensitive"))
    record = record_of(domain_name, org.a, "R-1")

    html = open_change_form(viewer, record)

    assert CLEAR[domain_name] not in html
    assert sensitive.mask(CLEAR[domain_name]) in html
    assert admin_url(record, "reveal", record.pk) in html
    assert reveals() == 0


@pytest.mark.parametrize("domain_name", SENSITIVE_DOMAINS)
def test_a_view_only_steward_without_the_scope_sees_the_mask_and_no_reveal_link(org, stewards_group, domain_name):
    viewer = make_steward("viewer", org.a, stewards_group, actions=("view",))
    record = record_of(domain_name, org.a, "R-1")

    html = open_change_form(viewer, record)

    assert CLEAR[domain_name] not in html
    assert sensitive.mask(CLEAR[domain_name]) in html
    assert admin_url(record, "reveal", record.pk) not in html
    assert reveals() == 0


def test_the_reveal_link_of_a_read_only_form_shows_the_value_once_audited(org, stewards_group):
    viewer = make_steward("viewer", org.a, stewards_group, actions=("view", "view_sensitive"))
    record = record_of("supplier", org.a, "R-1")
    client = browser(viewer)
    client.get(admin_url(record, "change", record.pk))

    revealed = client.post(admin_url(record, "reveal", record.pk)).content.decode()

    assert CLEAR["supplier"] in revealed
    assert reveals() == 1
