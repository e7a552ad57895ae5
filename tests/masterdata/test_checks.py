"""System checks: a field the registry calls sensitive must be encrypted at rest and blind-indexed.

The registry entries are built in the tests from the real ones (the throwaway ``plant`` domain
of ``tests.sixth_domain`` among them), so no real domain is ever changed.
"""

from __future__ import annotations

from dataclasses import replace

from django.core import checks

from masterdata.checks import check_sensitive_fields, has_blind_index, sensitive_field_errors
from masterdata.models import Supplier
from masterdata.registry import registry


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_registered_domains_pass():
    assert check_sensitive_fields() == []


def test_a_sensitive_field_that_is_not_a_sensitive_field_is_an_error():
    plant = replace(registry.get("plant"), sensitive_fields=("site_country",))

    [error] = sensitive_field_errors([plant])

    assert isinstance(error, checks.Error)
    assert error.id == "masterdata.E002"
    assert error.obj is plant.model_class._meta.get_field("site_country")


def test_a_sensitive_field_the_model_does_not_have_is_an_error():
    plant = replace(registry.get("plant"), sensitive_fields=("bank_account",))

    assert ids(sensitive_field_errors([plant])) == ["masterdata.E001"]


def test_a_sensitive_field_without_its_blind_index_is_an_error(monkeypatch):
    without_index = [index for index in Supplier._meta.indexes if not index.name.endswith("_bidx")]
    monkeypatch.setattr(Supplier._meta, "indexes", without_index)

    assert not has_blind_index(Supplier, "bank_account")
    assert ids(sensitive_field_errors([registry.get("supplier")])) == ["masterdata.E003"]


def test_an_encrypted_field_the_registry_does_not_call_sensitive_is_an_error():
    """Encrypted but unlisted: the API and the admin would not mask it."""
    supplier = replace(registry.get("supplier"), sensitive_fields=())

    assert ids(sensitive_field_errors([supplier])) == ["masterdata.E004"]


def test_the_check_is_registered_and_runs_over_the_registry(monkeypatch):
    plant = replace(registry.get("plant"), sensitive_fields=("site_country",))
    monkeypatch.setitem(registry._domains, "plant", plant)

    found = checks.run_checks(tags=[checks.Tags.models])

    assert "masterdata.E002" in ids(found)
