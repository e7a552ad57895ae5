"""Sealed documents: JSON that may carry sensitive values is encrypted whole for domains that have them.

Source payloads, conflict values, failure payloads, idempotent answers and merge snapshots of
suppliers and employees are sealed on every write path (save, bulk create and update, queryset
update, the sync path's COPY and UPDATE … FROM VALUES); customers' stay plain JSON. Python code
reads them in clear; ``rotate_keys`` re-encrypts them and seals what was stored in clear before.
"""

from __future__ import annotations

import importlib
import json

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core import serializers
from django.db import connection

from connectors.models import FailureStage, SyncFailure
from masterdata.crypto import KEYS_ENV, generate_key, is_sealed
from masterdata.models import Conflict, SourceLink
from masterdata.services import bulk_sql, keys
from tests.factories import SourceSystemFactory

pytestmark = pytest.mark.django_db

IBAN = "DE89370400440532013000"
PAYLOAD = {"LIFNR": "100", "Bankverbindung": IBAN, "nested": [{"iban": IBAN}]}


def raw(table: str, column: str, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}::text FROM {table} WHERE id = %s", [pk])
        text = cursor.fetchone()[0]
    return json.loads(text) if text is not None and text[:1] in '{["n' else text


def link(domain: str, key: str = "100", **fields) -> SourceLink:
    source = SourceSystemFactory()
    return SourceLink(source=source, domain=domain, source_key=key, golden_id=1, **fields)


@pytest.fixture
def source():
    return SourceSystemFactory()


def test_a_supplier_payload_is_sealed_in_the_column_and_clear_in_python():
    saved = link("supplier", last_payload=PAYLOAD)
    saved.save()

    stored = raw("masterdata_sourcelink", "last_payload", saved.pk)

    assert is_sealed(stored) and IBAN not in json.dumps(stored)
    assert SourceLink.objects.get(pk=saved.pk).last_payload == PAYLOAD
    assert saved.last_payload == PAYLOAD  # the instance keeps its clear value after the save
    assert SourceLink.objects.filter(pk=saved.pk).values_list("last_payload", flat=True).get() == PAYLOAD


def test_a_customer_payload_stays_plain_json():
    saved = link("customer", last_payload={"KUNNR": "1", "NAME1": "Alpha"})
    saved.save()

    assert raw("masterdata_sourcelink", "last_payload", saved.pk) == {"KUNNR": "1", "NAME1": "Alpha"}


@pytest.mark.parametrize("domain,sealed", [("supplier", True), ("employee", True), ("customer", False)])
def test_every_write_path_seals_by_the_rows_domain(domain, sealed):
    created = [link(domain, key=str(n), last_payload={"n": n, "iban": IBAN}) for n in range(2)]
    SourceLink.objects.bulk_create(created)
    copied = [link(domain, key=f"c{n}", last_payload={"iban": IBAN}) for n in range(2)]
    bulk_sql.insert(SourceLink, copied, with_ids=False)
    for row in created:
        row.source_values = {"bank_account": IBAN}
    SourceLink.objects.bulk_update(created, ["source_values"])
    copied = list(SourceLink.objects.filter(source_key__startswith="c"))
    for row in copied:
        row.last_payload = {"changed": IBAN}
    bulk_sql.update(SourceLink, copied, ["last_payload"])
    SourceLink.objects.filter(pk=created[1].pk).update(last_payload={"updated": IBAN})

    for row in SourceLink.objects.all():
        for column in ("last_payload", "source_values"):
            stored = raw("masterdata_sourcelink", column, row.pk)
            assert is_sealed(stored) is sealed or stored == {}, (row.source_key, column, stored)
            assert (IBAN in json.dumps(stored)) is (not sealed and stored != {})
    assert SourceLink.objects.get(pk=created[1].pk).last_payload == {"updated": IBAN}
    assert SourceLink.objects.get(pk=created[0].pk).source_values == {"bank_account": IBAN}


def test_a_queryset_update_over_several_domains_seals_only_the_rows_that_need_it():
    supplier, customer = link("supplier"), link("customer")
    SourceLink.objects.bulk_create([supplier, customer])

    SourceLink.objects.filter(pk__in=[supplier.pk, customer.pk]).update(last_payload={"v": "x"})

    assert is_sealed(raw("masterdata_sourcelink", "last_payload", supplier.pk))
    assert raw("masterdata_sourcelink", "last_payload", customer.pk) == {"v": "x"}


def test_conflict_candidates_seal_each_value_and_keep_the_source_readable_for_the_inbox_filter():
    conflict = Conflict.objects.create(
        domain="supplier", golden_id=1, field="bank_account", reason="equal_trust", golden_value=IBAN,
        candidates=[{"source": "erp", "value": IBAN, "trust": 50}, {"source": "bank", "value": "GB29", "trust": 50}],
    )  # fmt: skip

    stored = raw("masterdata_conflict", "candidates", conflict.pk)

    assert [c["source"] for c in stored] == ["erp", "bank"] and all(is_sealed(c["value"]) for c in stored)
    assert is_sealed(raw("masterdata_conflict", "golden_value", conflict.pk))
    assert Conflict.objects.get(pk=conflict.pk).candidates[0]["value"] == IBAN
    assert list(Conflict.objects.filter(candidates__contains=[{"source": "bank"}])) == [conflict]


def test_a_failure_keeps_its_payload_and_a_broken_page_sealed(source):
    failure = SyncFailure.objects.create(
        source=source, domain="supplier", stage=FailureStage.FETCH, fingerprint="page", error="bad page",
        payload={"url": "https://erp/x", "iban": IBAN}, raw_body=f'{{"iban": "{IBAN}", "na',
    )  # fmt: skip

    assert IBAN not in json.dumps(raw("connectors_syncfailure", "payload", failure.pk))
    assert raw("connectors_syncfailure", "raw_body", failure.pk).startswith("sealed:")
    loaded = SyncFailure.objects.get(pk=failure.pk)
    assert loaded.payload["iban"] == IBAN and IBAN in loaded.raw_body


def test_dumpdata_keeps_sealed_documents_sealed_and_loaddata_opens_them():
    saved = link("supplier", last_payload=PAYLOAD)
    saved.save()

    dumped = serializers.serialize("json", SourceLink.objects.filter(pk=saved.pk))
    [restored] = serializers.deserialize("json", dumped)

    assert IBAN not in dumped
    assert restored.object.last_payload == PAYLOAD


def test_a_document_no_key_opens_stays_sealed_and_is_written_back_unchanged(monkeypatch):
    saved = link("supplier", last_payload=PAYLOAD)
    saved.save()
    before = raw("masterdata_sourcelink", "last_payload", saved.pk)
    monkeypatch.setenv(KEYS_ENV, Fernet.generate_key().decode())

    loaded = SourceLink.objects.get(pk=saved.pk)
    loaded.save()

    assert loaded.last_payload == before
    assert raw("masterdata_sourcelink", "last_payload", saved.pk) == before


def test_rotate_keys_reseals_documents_so_the_old_key_can_go(monkeypatch, source):
    old = generate_key()
    monkeypatch.setenv(KEYS_ENV, old)
    saved = link("supplier", last_payload=PAYLOAD)
    saved.save()
    conflict = Conflict.objects.create(
        domain="employee", golden_id=1, field="national_id", reason="equal_trust",
        candidates=[{"source": "hr", "value": "11010519491231002X"}],
    )  # fmt: skip
    failure = SyncFailure.objects.create(
        source=source, domain="supplier", stage=FailureStage.FETCH, fingerprint="page", error="x", raw_body=IBAN
    )
    before = raw("masterdata_sourcelink", "last_payload", saved.pk)
    new = generate_key()
    monkeypatch.setenv(KEYS_ENV, f"{new},{old}")

    report = keys.rotate_all(actor_label="test")
    monkeypatch.setenv(KEYS_ENV, new)  # the old key is gone

    assert raw("masterdata_sourcelink", "last_payload", saved.pk) != before
    assert {"masterdata_sourcelink.last_payload", "masterdata_conflict.candidates",
            "connectors_syncfailure.raw_body"} <= {c.label for c in report.columns if c.rotated}  # fmt: skip
    assert SourceLink.objects.get(pk=saved.pk).last_payload == PAYLOAD
    assert Conflict.objects.get(pk=conflict.pk).candidates[0]["value"] == "11010519491231002X"
    assert SyncFailure.objects.get(pk=failure.pk).raw_body == IBAN


def test_rotate_keys_and_the_migration_seal_documents_stored_in_clear_before(source):
    supplier, customer = link("supplier"), link("customer")
    SourceLink.objects.bulk_create([supplier, customer])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE masterdata_sourcelink SET last_payload = %s::jsonb", [json.dumps(PAYLOAD)])
    migration = importlib.import_module("masterdata.migrations.0008_sealed_documents")

    with connection.schema_editor() as editor:
        migration.seal(apps, editor)

    assert is_sealed(raw("masterdata_sourcelink", "last_payload", supplier.pk))
    assert raw("masterdata_sourcelink", "last_payload", customer.pk) == PAYLOAD
    with connection.cursor() as cursor:
        cursor.execute("UPDATE masterdata_sourcelink SET last_payload = %s::jsonb", [json.dumps(PAYLOAD)])
    keys.rotate_all(actor_label="test")
    assert is_sealed(raw("masterdata_sourcelink", "last_payload", supplier.pk))
    assert SourceLink.objects.get(pk=supplier.pk).last_payload == PAYLOAD


def test_migrating_back_opens_every_sealed_document():
    saved = link("supplier", last_payload=PAYLOAD)
    saved.save()
    migration = importlib.import_module("masterdata.migrations.0008_sealed_documents")

    with connection.schema_editor() as editor:
        migration.open_sealed(apps, editor)

    assert raw("masterdata_sourcelink", "last_payload", saved.pk) == PAYLOAD
