"""Integration config as code: ``export_config`` / ``import_config`` round trips, checks with YAML paths, secrets.

Push targets and webhook subscriptions are part of the file too (the end of this module).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django_celery_beat.models import PeriodicTask

from connectors.crypto import STORED_PREFIX
from connectors.models import Connection, Mapping, PushTarget, WebhookSubscription
from connectors.services import config, config_apply, config_export
from masterdata.models import SourceDomain, SourceSystem, SurvivorshipRule
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "examples" / "integration.yaml", ROOT / "examples" / "demo.yaml"]

MINIMAL = """
version: 1
sources:
  - code: crm
    name: Sales CRM
    kind: crm
    domains:
      customer: {direction: both, trust: 60, field_trust: {email: 85}}
    connection:
      protocol: rest
      base_url: https://crm.example.com
      auth_type: bearer
      secret: ${ENV:CRM_TOKEN}
    mappings:
      - domain: customer
        fetch: {resource: /api/customers, record_path: data, key_field: id, pagination: page}
        fields:
          - {source: id, target: code}
          - {source: name, target: name}
          - {source: credit_score, target: credit_rating}
          - {source: last_order_date, target: last_transaction_date}
        schedule: "*/15 * * * *"
rules:
  - {domain: customer, field: credit_rating, strategy: system_of_record, system_of_record: crm}
"""


@pytest.fixture
def integration_user(db):
    """The owner the example's webhook names (a webhook sends what its owner may view)."""
    return UserFactory(username="integration", is_superuser=True)


def document(text: str = MINIMAL) -> dict:
    return yaml.safe_load(text)


def problems(doc: dict, **options) -> list[str]:
    with pytest.raises(config.ConfigError) as caught:
        config.validate(doc, **options)
    return caught.value.problems


def import_text(text: str, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "integration.yaml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("import_config", str(path), *args, stdout=out)
    return out.getvalue()


def export() -> str:
    out = io.StringIO()
    call_command("export_config", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (SourceSystem, SourceDomain, Connection, Mapping, SurvivorshipRule, PeriodicTask)
    return {model.__name__: model.objects.count() for model in models}


# --- the examples ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_shipped_example_configs_are_valid(path, integration_user):
    config.load(path.read_text(encoding="utf-8"), path.name)


def test_the_real_example_names_sap_odata_the_seed_crm_and_scim(tmp_path, integration_user):
    import_text((ROOT / "examples" / "integration.yaml").read_text(encoding="utf-8"), tmp_path)

    erp = Connection.objects.get(source__code="erp")
    assert (erp.protocol, erp.option("query")) == ("odata_v2", {"sap-client": "100"})
    resources = dict(Mapping.objects.filter(source__code="erp").values_list("domain", "fetch_spec__resource"))
    assert resources == {
        "customer": "API_BUSINESS_PARTNER/A_BusinessPartner",
        "supplier": "API_BUSINESS_PARTNER/A_BusinessPartner",
        "material": "API_PRODUCT_SRV/A_Product",
    }
    assert Mapping.objects.get(source__code="erp", domain="material").fetch_spec["cursor_field"] == "LastChangeDateTime"
    crm = Mapping.objects.get(source__code="crm", domain="customer")
    assert crm.field_map == {
        "id": "code", "name": "name", "credit_score": "credit_rating", "last_order_date": "last_transaction_date"
    }  # fmt: skip
    assert Connection.objects.get(source__code="hr").protocol == "scim"
    assert not Connection.objects.filter(secret__startswith=STORED_PREFIX).exists()
    target = PushTarget.objects.get(source__code="crm")
    assert (target.domain, target.resource, target.lookup_field, target.max_attempts) == (
        "customer", "/api/customers", "customer_number", 10,
    )  # fmt: skip
    lake = WebhookSubscription.objects.get(name="data-lake")
    assert (lake.owner, lake.domains, lake.secret.reference_name) == (
        integration_user, ["customer", "supplier", "material"], "LAKE_WEBHOOK_SECRET",
    )  # fmt: skip
    assert lake.position  # "start: now": it does not replay the whole history


# --- import: idempotent, all or nothing, dry run -----------------------------------------------
def test_an_import_creates_sources_connections_mappings_schedules_and_rules(tmp_path):
    output = import_text(MINIMAL, tmp_path)

    assert "5 changes imported" in output
    source = SourceSystem.objects.get(code="crm")
    assert SourceDomain.objects.get(source=source).trust_for("email") == 85
    mapping = Mapping.objects.get(source=source, domain="customer")
    assert mapping.pull_task is not None and mapping.pull_task.crontab.minute == "*/15"
    rule = SurvivorshipRule.objects.get(domain="customer", field="credit_rating")
    assert rule.system_of_record == source


def test_a_second_import_of_the_same_file_changes_nothing(tmp_path):
    import_text(MINIMAL, tmp_path)
    before = counts()
    stamps = list(Mapping.objects.values_list("updated_at", flat=True))

    output = import_text(MINIMAL, tmp_path)

    assert "No changes" in output
    assert counts() == before
    assert list(Mapping.objects.values_list("updated_at", flat=True)) == stamps


def test_a_dry_run_prints_the_changes_and_writes_nothing(tmp_path):
    import_text(MINIMAL, tmp_path)
    changed = MINIMAL.replace("trust: 60", "trust: 70").replace("https://crm.example.com", "https://crm2.example.com")
    before = counts()

    output = import_text(changed, tmp_path, "--dry-run")

    assert "~ sources[0].domains.customer.trust: 60 → 70" in output
    assert "~ sources[0].connection.base_url: 'https://crm.example.com' → 'https://crm2.example.com'" in output
    assert "nothing written" in output
    assert counts() == before
    assert Connection.objects.get().base_url == "https://crm.example.com"


def test_a_dry_run_of_a_new_landscape_writes_nothing(tmp_path):
    output = import_text(MINIMAL, tmp_path, "--dry-run")

    assert "+ sources[0]: new source crm" in output and "+ rules[0]: new rule customer.credit_rating" in output
    assert set(counts().values()) == {0}


def test_an_import_is_all_or_nothing(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(SurvivorshipRule, "save", refuse)

    with pytest.raises(RuntimeError):
        import_text(MINIMAL, tmp_path)

    assert set(counts().values()) == {0}


def test_an_import_never_deletes_what_the_file_does_not_name(tmp_path):
    import_text(MINIMAL, tmp_path)
    other = SourceSystem.objects.create(code="legacy", name="Legacy")

    import_text(MINIMAL.replace("field: credit_rating, strategy", "field: email, strategy"), tmp_path)

    assert SourceSystem.objects.filter(pk=other.pk).exists()
    assert SurvivorshipRule.objects.count() == 2


def test_the_import_is_logged_without_secrets(tmp_path, caplog, monkeypatch):
    text = MINIMAL.replace("${ENV:CRM_TOKEN}", "tok-1234-clear")
    with caplog.at_level(logging.INFO, logger="connectors.config"):
        import_text(text, tmp_path, "--allow-plaintext-secrets")
        import_text(text.replace("tok-1234-clear", "tok-5678-clear"), tmp_path, "--allow-plaintext-secrets")

    messages = [record.getMessage() for record in caplog.records if record.name == "connectors.config"]
    assert any("5 changes" in message for message in messages)
    assert any("connection.secret" in message and "not shown" in message for message in messages)
    assert not any("clear" in message for message in messages)


# --- export ---------------------------------------------------------------------------------------
def test_export_import_export_gives_the_same_file(tmp_path, integration_user):
    import_text((ROOT / "examples" / "integration.yaml").read_text(encoding="utf-8"), tmp_path)
    first = export()
    assert yaml.safe_load(first)["sources"][0]["push_targets"][0]["lookup_field"] == "customer_number"
    assert yaml.safe_load(first)["webhooks"][0]["secret"] == "${ENV:LAKE_WEBHOOK_SECRET}"

    output = import_text(first, tmp_path)

    assert "No changes" in output
    assert export() == first
    assert yaml.safe_load(first)["sources"][0]["code"] == "crm"  # sorted by code


def test_an_exported_file_loads_into_an_empty_hub_as_the_same_config(tmp_path):
    import_text(MINIMAL, tmp_path)
    exported = export()
    SurvivorshipRule.objects.all().delete()
    for mapping in Mapping.objects.all():
        mapping.delete()
    SourceSystem.objects.all().delete()

    import_text(exported, tmp_path)

    assert export() == exported


def test_export_leaves_out_defaults(tmp_path):
    import_text(MINIMAL, tmp_path)

    source = yaml.safe_load(export())["sources"][0]

    assert "active" not in source and "timeout_seconds" not in source["connection"]
    assert "keep_unmapped" not in source["mappings"][0]


# --- secrets --------------------------------------------------------------------------------------
def test_a_secret_reference_is_kept_as_a_reference_and_exported_as_it_is(tmp_path):
    import_text(MINIMAL, tmp_path)

    stored = db_connection.cursor()
    stored.execute("SELECT secret FROM connectors_connection")
    assert stored.fetchone()[0] == "${ENV:CRM_TOKEN}"
    assert yaml.safe_load(export())["sources"][0]["connection"]["secret"] == "${ENV:CRM_TOKEN}"


def test_a_clear_text_secret_is_refused_without_repeating_it(tmp_path):
    text = MINIMAL.replace("${ENV:CRM_TOKEN}", "s3cr3t-token")

    with pytest.raises(CommandError) as caught:
        import_text(text, tmp_path)

    message = str(caught.value)
    assert "sources[0].connection.secret: a secret in clear text is refused" in message
    assert "s3cr3t-token" not in message
    assert not SourceSystem.objects.exists()


def test_an_allowed_clear_text_secret_is_stored_encrypted_and_never_exported(tmp_path):
    text = MINIMAL.replace("${ENV:CRM_TOKEN}", "s3cr3t-token")

    import_text(text, tmp_path, "--allow-plaintext-secrets")

    cursor = db_connection.cursor()
    cursor.execute("SELECT secret FROM connectors_connection")
    assert cursor.fetchone()[0].startswith(STORED_PREFIX)
    assert Connection.objects.get().reveal_secret() == "s3cr3t-token"
    exported = export()
    assert "s3cr3t-token" not in exported
    assert "secret" not in yaml.safe_load(exported)["sources"][0]["connection"]
    assert "sources[0].connection.secret — stored encrypted, not exported" in exported
    assert "${ENV:CRM_SECRET}" in exported
    assert "No changes" in import_text(exported, tmp_path)  # a left-out secret is kept
    assert Connection.objects.get().reveal_secret() == "s3cr3t-token"


def test_a_new_connection_that_needs_a_secret_must_be_given_one():
    doc = document()
    del doc["sources"][0]["connection"]["secret"]

    assert "sources[0].connection.secret: This authentication needs a secret" in problems(doc)


# --- errors name their YAML path ------------------------------------------------------------------
def test_an_unknown_golden_field_is_reported_at_its_entry():
    doc = document()
    doc["sources"][0]["mappings"][0]["fields"][2]["target"] = "credit_scor"

    assert problems(doc) == ["sources[0].mappings[0].fields[2].target: unknown golden field 'credit_scor' of customer"]


def test_an_unknown_field_in_the_shorthand_map_is_reported_at_its_source_key():
    doc = document()
    doc["sources"][0]["mappings"][0]["fields"] = {"id": "code", "score": "credit_scor"}

    assert problems(doc) == ["sources[0].mappings[0].fields.score: unknown golden field 'credit_scor' of customer"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["sources"][0].update(kind="bank"), "sources[0].kind: 'bank' is not one of"),
        (lambda d: d["sources"][0]["connection"].update(colour="red"), "sources[0].connection: Additional properties"),
        (lambda d: d["sources"][0]["connection"].update(protocol="soap"), "sources[0].connection.protocol: 'soap'"),
        (lambda d: d["sources"][0]["domains"]["customer"].update(trust=101), "domains.customer.trust: 101 is greater"),
        (lambda d: d["sources"][0]["domains"]["customer"]["field_trust"].update(emial=9),
         "sources[0].domains.customer.field_trust: 'emial' is not a field of customer"),
        (lambda d: d["sources"][0]["mappings"][0].update(schedule="hourly"), "sources[0].mappings[0].schedule: Not a"),
        (lambda d: d["sources"][0]["mappings"][0]["fetch"].update(colour=1), "mappings[0].fetch: Unknown fetch spec"),
        (lambda d: d["sources"][0]["mappings"][0]["fetch"].pop("key_field"), "mappings[0].fetch: needs key_field"),
        (lambda d: d["sources"][0]["mappings"][0]["fields"].pop(0), "fields: the business key 'code' of customer"),
        (lambda d: d["sources"][0]["mappings"][0]["fields"][1].update(transforms=[{"op": "frob"}]),
         "sources[0].mappings[0].fields[1]: unknown transform 'frob'"),
        (lambda d: d["sources"][0]["mappings"].append(d["sources"][0]["mappings"][0]),
         "sources[0].mappings[1].domain: a mapping for domain 'customer' again"),
        (lambda d: d["sources"].append(dict(d["sources"][0], name="CRM 2")),
         "sources[1].code: source code 'crm' again"),
        (lambda d: d["rules"][0].update(system_of_record="sap"), "rules[0].system_of_record: no source 'sap'"),
        (lambda d: d["rules"][0].update(strategy="trust"), "rules[0].system_of_record: only the strategy"),
        (lambda d: d["rules"][0].update(field="colour"), "rules[0].field: unknown golden field 'colour'"),
        (lambda d: d.update(version=2), "version: 1 was expected"),
    ],
)  # fmt: skip
def test_every_problem_names_its_yaml_path(change, expected):
    doc = document()
    change(doc)

    assert any(problem.startswith(expected) or expected in problem for problem in problems(doc)), problems(doc)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    doc = document()
    doc["sources"][0]["mappings"][0]["fields"][2]["target"] = "credit_scor"
    doc["rules"][0]["system_of_record"] = "sap"
    text = yaml.safe_dump(doc)

    with pytest.raises(CommandError) as caught:
        import_text(text, tmp_path)

    assert "(2 problems)" in str(caught.value)
    assert "unknown golden field 'credit_scor'" in str(caught.value) and "no source 'sap'" in str(caught.value)


def test_a_yaml_syntax_error_names_line_and_column():
    with pytest.raises(config.ConfigError) as caught:
        config.parse("sources:\n  - code: [crm\n", "broken.yaml")

    assert caught.value.problems[0].startswith("broken.yaml:3:1: not valid YAML")


def test_yaml_tags_that_would_build_objects_are_refused():
    with pytest.raises(config.ConfigError):
        config.parse("sources: !!python/object/apply:os.system ['true']", "evil.yaml")


def test_the_apply_service_reports_changes_per_field():
    config_apply.apply(config.load(MINIMAL))
    doc = document()
    doc["sources"][0]["mappings"][0]["schedule"] = "0 * * * *"

    result = config_apply.apply(doc)

    assert result.lines() == ["~ sources[0].mappings[0].schedule: '*/15 * * * *' → '0 * * * *'"]
    assert Mapping.objects.get().pull_task.crontab.minute == "0"
    assert config_export.build()[0]["sources"][0]["mappings"][0]["schedule"] == "0 * * * *"


# --- push targets and webhooks ----------------------------------------------------------------------
OUTBOUND = (
    MINIMAL.replace(
        """        schedule: "*/15 * * * *"
rules:""",
        """        schedule: "*/15 * * * *"
    push_targets:
      - domain: customer
        resource: /api/customers
        key_field: id
        lookup_field: code
        fields:
          - {golden: code, target: code}
          - {golden: name, target: name}
          - {golden: email, target: contact.email}
        max_attempts: 5
rules:""",
    )
    + """webhooks:
  - name: data-lake
    url: https://lake.example.com/mdm
    owner: integration
    domains: [customer]
    secret: ${ENV:LAKE_SECRET}
"""
)


def test_an_import_creates_push_targets_and_webhooks_and_a_second_one_changes_nothing(tmp_path, integration_user):
    output = import_text(OUTBOUND, tmp_path)

    assert "7 changes imported" in output
    target = PushTarget.objects.get()
    assert (target.source.code, target.domain, target.key_field, target.lookup_field, target.max_attempts) == (
        "crm", "customer", "id", "code", 5,
    )  # fmt: skip
    assert target.field_map[2] == {"golden": "email", "target": "contact.email"} and not target.paused
    webhook = WebhookSubscription.objects.get()
    assert (webhook.url, webhook.owner, webhook.domains, webhook.position) == (
        "https://lake.example.com/mdm", integration_user, ["customer"], "",
    )  # fmt: skip
    cursor = db_connection.cursor()
    cursor.execute("SELECT secret FROM connectors_webhooksubscription")
    assert cursor.fetchone()[0] == "${ENV:LAKE_SECRET}"  # a reference, stored as written

    assert "No changes" in import_text(OUTBOUND, tmp_path)
    exported = export()
    assert yaml.safe_load(exported)["sources"][0]["push_targets"][0]["fields"] == target.field_map
    assert "No changes" in import_text(exported, tmp_path) and export() == exported


def test_a_dry_run_shows_push_target_and_webhook_changes_and_writes_nothing(tmp_path, integration_user):
    import_text(OUTBOUND, tmp_path)
    changed = OUTBOUND.replace("max_attempts: 5", "max_attempts: 9").replace("domains: [customer]", "domains: []")
    other = UserFactory(username="lake-reader")
    changed = changed.replace("owner: integration", f"owner: {other.username}")

    output = import_text(changed, tmp_path, "--dry-run")

    assert "~ sources[0].push_targets[0].max_attempts: 5 → 9" in output
    assert "~ webhooks[0].domains: ['customer'] → []" in output
    assert "~ webhooks[0].owner: 'integration' → 'lake-reader'" in output
    assert PushTarget.objects.get().max_attempts == 5 and WebhookSubscription.objects.get().owner == integration_user


def test_a_pause_stands_while_the_file_says_nothing_of_it_and_follows_the_file_when_it_does(tmp_path, integration_user):
    import_text(OUTBOUND, tmp_path)
    PushTarget.objects.update(paused=True)  # an operator pauses the CRM in the admin
    WebhookSubscription.objects.update(paused=True)

    assert "No changes" in import_text(OUTBOUND, tmp_path)
    assert PushTarget.objects.get().paused and WebhookSubscription.objects.get().paused
    exported = yaml.safe_load(export())
    assert exported["sources"][0]["push_targets"][0]["paused"] is True and exported["webhooks"][0]["paused"] is True

    import_text(OUTBOUND.replace("max_attempts: 5", "max_attempts: 5\n        paused: false"), tmp_path)

    target = PushTarget.objects.get()
    assert (target.paused, target.paused_at) == (False, None)
    import_text(OUTBOUND.replace("max_attempts: 5", "max_attempts: 5\n        paused: true"), tmp_path)
    assert PushTarget.objects.get().paused_at is not None


def test_a_webhook_secret_in_clear_is_refused_or_stored_encrypted_and_never_exported(tmp_path, integration_user):
    text = OUTBOUND.replace("${ENV:LAKE_SECRET}", "lake-s3cr3t")
    with pytest.raises(CommandError) as caught:
        import_text(text, tmp_path)
    assert "webhooks[0].secret: a secret in clear text is refused" in str(caught.value)
    assert "lake-s3cr3t" not in str(caught.value)

    import_text(text, tmp_path, "--allow-plaintext-secrets")

    cursor = db_connection.cursor()
    cursor.execute("SELECT secret FROM connectors_webhooksubscription")
    assert cursor.fetchone()[0].startswith(STORED_PREFIX)
    assert WebhookSubscription.objects.get().secret.reveal() == "lake-s3cr3t"
    exported = export()
    assert "lake-s3cr3t" not in exported and "secret" not in yaml.safe_load(exported)["webhooks"][0]
    assert (
        "webhooks[0].secret — stored encrypted, not exported" in exported
        and "${ENV:WEBHOOK_DATA_LAKE_SECRET}" in exported
    )
    assert "No changes" in import_text(exported, tmp_path)  # the left-out secret is kept
    assert WebhookSubscription.objects.get().secret.reveal() == "lake-s3cr3t"


def outbound() -> dict:
    return document(OUTBOUND)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["sources"][0]["push_targets"][0]["fields"][1].update(golden="nmae"),
         "sources[0].push_targets[0].fields[1]: unknown golden field 'nmae' of customer"),
        (lambda d: d["sources"][0]["push_targets"][0].update(fields={"code": "code", "colour": "c"}),
         "sources[0].push_targets[0].fields.colour: unknown golden field 'colour' of customer"),
        (lambda d: d["sources"][0]["push_targets"][0]["fields"].append({"golden": "phone", "target": "code"}),
         "sources[0].push_targets[0].fields[3]: 'code' is already written by entry 1"),
        (lambda d: d["sources"][0]["push_targets"][0].pop("key_field"),
         "sources[0].push_targets[0]: 'key_field' is a required property"),
        (lambda d: d["sources"][0]["push_targets"][0].update(max_attempts=0),
         "sources[0].push_targets[0].max_attempts: 0 is less than the minimum"),
        (lambda d: d["sources"][0]["push_targets"].append(d["sources"][0]["push_targets"][0]),
         "sources[0].push_targets[1].domain: a push target for domain 'customer' again"),
        (lambda d: d["sources"][0]["domains"]["customer"].update(direction="pull"),
         "sources[0].push_targets[0].domain: nothing is pushed unless the source's direction for customer is push"),
        (lambda d: d["webhooks"][0].update(owner="nobody"), "webhooks[0].owner: no user 'nobody' in the hub"),
        (lambda d: d["webhooks"][0].update(url="not a url"), "webhooks[0].url: Enter a valid URL"),
        (lambda d: d["webhooks"][0].update(domains=["customer", "planet"]), "webhooks[0].domains[1]: 'planet' is not"),
        (lambda d: d["webhooks"][0].pop("secret"), "webhooks[0].secret: A webhook needs a secret"),
        (lambda d: d["webhooks"].append(dict(d["webhooks"][0])), "webhooks[1].name: webhook name 'data-lake' again"),
        (lambda d: d["webhooks"][0].update(start="yesterday"), "webhooks[0].start: 'yesterday' is not one of"),
    ],
)  # fmt: skip
def test_every_push_target_and_webhook_problem_names_its_yaml_path(change, expected, integration_user):
    doc = outbound()
    change(doc)

    assert any(problem.startswith(expected) for problem in problems(doc)), problems(doc)
