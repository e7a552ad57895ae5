"""Admin writes go through the golden-record service; nothing is deleted; history shows what changed."""

from __future__ import annotations

from django.contrib import admin

from masterdata.models import Customer, GoldenStatus, Supplier
from masterdata.services import access, golden
from tests.conftest import make_steward
from tests.factories import SourceSystemFactory, SupplierFactory

from .conftest import admin_url, browser
from .test_registry_admin import form_data


def edit(client, record, **changes):
    url = admin_url(record, "change", record.pk)
    return client.post(url, form_data(client.get(url)) | changes)


def test_steward_edit_bumps_the_version_and_writes_history_with_user_and_reason(steward_a_client, steward_a, customers):
    customer = customers.a_sales

    response = edit(steward_a_client, customer, name="Alpha East", change_reason="Renamed after merger")

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.version) == ("Alpha East", 2)
    latest = customer.history.latest("history_id")
    assert (latest.history_user, latest.history_change_reason, latest.version) == (
        steward_a,
        "Renamed after merger",
        2,
    )
    assert customer.provenance["name"]["user"] == "steward_a"
    assert customer.provenance["name"]["rule"] == "steward"


def test_edit_without_a_reason_is_recorded_as_an_admin_edit(superuser_client, customers):
    edit(superuser_client, customers.a, credit_rating="B")

    assert customers.a.history.latest("history_id").history_change_reason == "Edited in the admin"


def test_saving_without_changes_writes_no_history_and_keeps_the_version(superuser_client, customers):
    customer = customers.a

    response = edit(superuser_client, customer, change_reason="just looking")

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.version == 1
    assert customer.history.count() == 1


def test_edit_based_on_a_stale_version_is_refused(superuser_client, customers):
    customer = customers.a
    url = admin_url(customer, "change", customer.pk)
    stale_form = form_data(superuser_client.get(url))
    golden.update(customer, {"name": "Changed meanwhile"}, golden.ChangeContext(reason="elsewhere"))

    response = superuser_client.post(url, stale_form | {"name": "My change"})

    assert response.status_code == 200
    assert "Someone changed this record" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.name, customer.version) == ("Changed meanwhile", 2)


def test_provenance_and_version_are_shown_read_only(superuser_client, customers):
    customer = customers.a
    edit(superuser_client, customer, name="Alpha Trading Ltd")

    response = superuser_client.get(admin_url(customer, "change", customer.pk))

    form = response.context["adminform"].form
    assert {"version", "provenance", "status", "merged_into"}.isdisjoint(form.fields)
    html = response.content.decode()
    assert "Provenance" in html
    assert "steward" in html  # the rule recorded for the name


def test_golden_records_cannot_be_deleted_in_the_admin(superuser_client, customers):
    customer = customers.a

    response = superuser_client.post(admin_url(customer, "delete", customer.pk), {"post": "yes"})
    changelist = superuser_client.get(admin_url(Customer, "changelist"))

    assert response.status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)


def run_action(client, model, action: str, records):
    return client.post(
        admin_url(model, "changelist"), {"action": action, admin.helpers.ACTION_CHECKBOX_NAME: [r.pk for r in records]}
    )


def test_deactivate_and_reactivate_actions_go_through_the_service(steward_a_client, steward_a, customers):
    customer = customers.a

    run_action(steward_a_client, Customer, "deactivate_selected", [customer])
    customer.refresh_from_db()
    assert (customer.status, customer.version) == (GoldenStatus.INACTIVE, 2)
    deactivated = customer.history.latest("history_id")
    assert (deactivated.history_user, deactivated.history_change_reason) == (steward_a, "Deactivated in the admin")

    run_action(steward_a_client, Customer, "reactivate_selected", [customer])
    customer.refresh_from_db()
    assert (customer.status, customer.version) == (GoldenStatus.ACTIVE, 3)


def test_status_actions_skip_records_outside_the_stewards_scope(steward_a_client, customers):
    run_action(steward_a_client, Customer, "deactivate_selected", [customers.a, customers.b])

    statuses = dict(Customer.objects.values_list("code", "status"))
    assert statuses == {"CA-1": "inactive", "CA-2": "active", "CB-1": "active"}


def test_view_only_steward_is_offered_no_status_actions(org, stewards_group, customers):
    viewer = make_steward("viewer", org.a, stewards_group, actions=("view",))

    response = browser(viewer).get(admin_url(Customer, "changelist"))

    assert response.status_code == 200
    assert response.context["action_form"] is None


def test_merged_record_is_read_only(superuser_client, customers):
    survivor, merged = customers.a, customers.a_sales
    Customer.objects.filter(pk=merged.pk).update(status=GoldenStatus.MERGED, merged_into=survivor)

    page = superuser_client.get(admin_url(merged, "change", merged.pk))
    refused = superuser_client.post(admin_url(merged, "change", merged.pk), {"code": merged.code, "name": "X"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert refused.status_code == 403


def test_history_page_shows_what_changed_who_changed_it_and_why(superuser_client, steward_a, customers):
    customer = customers.a
    edit(browser(steward_a), customer, name="Alpha Trading Shanghai", change_reason="New legal name")

    response = superuser_client.get(admin_url(customer, "history", customer.pk))

    assert response.status_code == 200
    newest = response.context["page_obj"][0]
    assert newest.history_delta_changes == [{"field": "name", "old": "Alpha Trading", "new": "Alpha Trading Shanghai"}]
    html = response.content.decode()
    for text in ("Alpha Trading Shanghai", "New legal name", "steward_a"):
        assert text in html


def test_history_page_names_the_source_system_of_a_sync_change(superuser_client, customers):
    source = SourceSystemFactory(code="sap", name="SAP S/4")
    golden.update(customers.a, {"phone": "+86 21 1234"}, golden.ChangeContext(source=source, reason="sync"))

    response = superuser_client.get(admin_url(customers.a, "history", customers.a.pk))

    assert "SAP S/4" in response.content.decode()


def test_history_hides_sensitive_values_from_stewards_who_may_not_reveal_them(org, steward_a, superuser_client):
    supplier = SupplierFactory(code="SA-9", name="Alpha Bank Client", owner_org=org.a)
    golden.update(supplier, {"bank_account": "CN-SECRET-1"}, golden.ChangeContext(reason="bank change"))
    steward_client = browser(steward_a)

    steward_history = steward_client.get(admin_url(supplier, "history", supplier.pk)).content.decode()
    steward_form = steward_client.get(admin_url(supplier, "change", supplier.pk)).context["adminform"].form
    admin_history = superuser_client.get(admin_url(supplier, "history", supplier.pk)).content.decode()
    admin_revealed = superuser_client.post(admin_url(supplier, "history", supplier.pk), {"_reveal": "1"})

    assert "CN-SECRET-1" not in steward_history
    assert "bank_account" in steward_history
    assert "bank_account" not in steward_form.fields
    assert "CN-SECRET-1" not in admin_history  # masked until revealed, even for those who may
    assert "CN-SECRET-1" in admin_revealed.content.decode()
    access.grant(steward_a, "view_sensitive", org.a)
    revealed = browser(steward_a).post(admin_url(supplier, "history", supplier.pk), {"_reveal": "1"})
    assert "CN-SECRET-1" in revealed.content.decode()


def test_reverting_to_an_old_version_is_a_new_version_written_by_the_service(superuser_client, superuser, customers):
    customer = customers.a
    first = customer.history.get()
    edit(superuser_client, customer, name="Wrong name")
    url = admin_url(customer, "simple_history", customer.pk, first.history_id)

    response = superuser_client.post(url, form_data(superuser_client.get(url)) | {"change_reason": "undo"})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.version) == ("Alpha Trading", 3)
    assert customer.history.latest("history_id").history_user == superuser


def test_view_only_steward_cannot_revert(org, stewards_group, customers):
    viewer = make_steward("viewer", org.a, stewards_group, actions=("view",))
    client = browser(viewer)
    customer = customers.a
    golden.update(customer, {"name": "Second name"}, golden.ChangeContext(reason="edit"))
    first = customer.history.earliest("history_id")
    url = admin_url(customer, "simple_history", customer.pk, first.history_id)

    page = client.get(url)
    refused = client.post(url, {"code": customer.code, "name": "Alpha Trading"})

    assert page.status_code == 200
    assert "Revert" not in page.content.decode().split("<form", 1)[1]
    assert refused.status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Second name"


def test_creating_a_record_in_the_admin_goes_through_the_service(steward_a_client, steward_a, org):
    response = steward_a_client.post(
        admin_url(Customer, "add"),
        {
            "code": "CA-9",
            "name": "Alpha Newco",
            "owner_org": org.a_sales.pk,
            "attributes": "{}",
            "locked_fields": "[]",
            "change_reason": "onboarding",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(code="CA-9")
    assert customer.version == 1
    assert customer.provenance["name"]["user"] == "steward_a"
    created = customer.history.get()
    assert (created.history_user, created.history_change_reason) == (steward_a, "onboarding")


def test_supplier_sensitive_field_is_editable_for_those_who_may_see_it(superuser_client, org):
    supplier = SupplierFactory(code="SA-8", name="Alpha Steel", owner_org=org.a)

    edit(superuser_client, supplier, bank_account="CN-NEW")

    assert Supplier.objects.get(pk=supplier.pk).bank_account == "CN-NEW"
