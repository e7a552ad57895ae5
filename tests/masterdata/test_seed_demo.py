"""``manage.py seed_demo``: a realistic, deterministic, idempotent demo group, pulled from its demo sources."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import transaction
from rest_framework.test import APIClient

from connectors.models import SyncFailure, SyncRun
from connectors.services import demo as landscape
from masterdata.models import (
    Conflict,
    Customer,
    Employee,
    Material,
    OrgUnit,
    OrgUnitClosure,
    OrgUnitType,
    SourceDomain,
    SourceLink,
    SourceSystem,
    Supplier,
    SyncDirection,
)
from masterdata.registry import registry
from masterdata.services import access, demo, orgtree, tokens
from masterdata.services.demo import drops

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "Admin-demo-pw-1"
DEMO_PASSWORD = "Steward-demo-pw-1"


@pytest.fixture(scope="module")
def drop_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo-drop")


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, drop_dir):
    """The full demo group, seeded once for this module and rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield landscape.seed(admin_password=ADMIN_PASSWORD, demo_password=DEMO_PASSWORD, drop_dir=drop_dir)
        transaction.set_rollback(True)


def seed_demo(drop_dir: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--drop-dir", str(drop_dir), *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Row counts of every table the demo touches, plus every golden record's version."""
    counts = {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in {"masterdata", "connectors", "django_celery_beat", "auth", "guardian", "authtoken"}
    }
    versions = {d.name: dict(d.model_class.objects.values_list("code", "version")) for d in registry}
    links = dict(SourceLink.objects.values_list("id", "updated_at"))
    return {"counts": counts, "versions": versions, "links": links}


def plan_digest_in_subprocess(seed: int, hash_seed: str) -> str:
    code = (
        "import django, hashlib; django.setup();"
        "from masterdata.services.demo import build;"
        f"print(hashlib.sha256(repr(build({seed}).records).encode()).hexdigest())"
    )
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --- the plan: deterministic ------------------------------------------------------------------
def test_the_plan_is_the_same_in_every_process_for_a_seed():
    here = hashlib.sha256(repr(demo.build(demo.DEFAULT_SEED).records).encode()).hexdigest()
    assert plan_digest_in_subprocess(demo.DEFAULT_SEED, "1") == here
    assert plan_digest_in_subprocess(demo.DEFAULT_SEED, "2") == here


def test_another_seed_gives_another_group():
    first, second = demo.build(1), demo.build(2)
    assert [r.values["name"] for r in first.records["customer"]] != [
        r.values["name"] for r in second.records["customer"]
    ]


# --- the data: realistic ----------------------------------------------------------------------
@pytest.mark.django_db
def test_three_companies_under_one_group_with_departments(seeded):
    group = OrgUnit.objects.get(parent=None)
    assert group.unit_type == OrgUnitType.GROUP
    companies = OrgUnit.objects.filter(parent=group)
    assert companies.count() == 3
    assert set(companies.values_list("unit_type", flat=True)) == {OrgUnitType.COMPANY}
    for company in companies:
        departments = OrgUnit.objects.filter(parent=company, unit_type=OrgUnitType.DEPARTMENT)
        assert departments.count() >= 5
        assert company.manager is not None and company.manager.org_unit_id == company.pk
    assert OrgUnit.objects.filter(unit_type=OrgUnitType.COST_CENTRE).exists()


@pytest.mark.django_db
def test_volumes_are_those_of_a_mid_sized_group(seeded):
    assert Customer.objects.count() == 300
    assert Supplier.objects.count() == 150
    assert Material.objects.count() == 300
    assert Employee.objects.count() == 200
    assert seeded.structure.created == {"org_unit": 28}
    created = {(run.source.code, run.domain): run.created for run in seeded.runs}
    assert created == {
        ("hr", "employee"): 200, ("hr", "org_unit"): 0, ("erp", "customer"): 300, ("erp", "supplier"): 150,
        ("erp", "material"): 300, ("crm", "customer"): 0,
    }  # fmt: skip


@pytest.mark.django_db
def test_chinese_names_are_among_the_partners(seeded):
    assert Customer.objects.filter(name="上海华东贸易有限公司", country="CN").exists()
    assert Customer.objects.filter(name__endswith="有限公司").count() > 50
    assert Supplier.objects.filter(name__endswith="有限公司").exists()
    assert Employee.objects.filter(org_unit__code__startswith="MER-CN", name__regex=r"^[\u4e00-\u9fff]+$").exists()


@pytest.mark.django_db
def test_every_record_belongs_where_its_domain_says(seeded):
    assert not Customer.objects.filter(owner_org=None).exists()
    assert not Supplier.objects.filter(owner_org=None).exists()
    assert not Employee.objects.filter(org_unit=None).exists()
    assert Employee.objects.exclude(manager=None).count() == 200 - 3  # all but the three general managers


@pytest.mark.django_db
def test_the_closure_table_matches_the_tree(seeded):
    before = set(OrgUnitClosure.objects.values_list("ancestor_id", "descendant_id", "depth"))
    orgtree.rebuild_closure()
    assert set(OrgUnitClosure.objects.values_list("ancestor_id", "descendant_id", "depth")) == before


# --- sources and links ------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_erp_a_crm_and_an_hr_system_with_direction_and_trust_per_domain(seeded):
    assert set(SourceSystem.objects.values_list("code", "kind")) == {("erp", "erp"), ("crm", "crm"), ("hr", "hr")}
    erp_customers = SourceDomain.objects.get(source__code="erp", domain="customer")
    crm_customers = SourceDomain.objects.get(source__code="crm", domain="customer")
    assert erp_customers.direction == crm_customers.direction == SyncDirection.BOTH
    assert erp_customers.trust_for("credit_rating") > crm_customers.trust_for("credit_rating")
    assert crm_customers.trust_for("email") > erp_customers.trust_for("email")
    hr_employees = SourceDomain.objects.get(source__code="hr", domain="employee")
    assert hr_employees.direction == SyncDirection.PULL
    assert hr_employees.trust_rank > SourceDomain.objects.get(source__code="erp", domain="org_unit").trust_rank


@pytest.mark.django_db
def test_every_record_is_linked_to_its_system_of_record_with_a_hashed_payload(seeded):
    def linked(source: str, domain: str) -> set[int]:
        return set(SourceLink.objects.filter(source__code=source, domain=domain).values_list("golden_id", flat=True))

    assert linked("hr", "org_unit") == set(OrgUnit.objects.values_list("pk", flat=True))
    assert linked("erp", "customer") == set(Customer.objects.values_list("pk", flat=True))
    assert linked("erp", "supplier") == set(Supplier.objects.values_list("pk", flat=True))
    assert linked("erp", "material") == set(Material.objects.values_list("pk", flat=True))
    assert linked("hr", "employee") == set(Employee.objects.values_list("pk", flat=True))
    assert 100 < len(linked("crm", "customer")) < 300
    for link in SourceLink.objects.all():
        assert link.payload_hash == SourceLink.hash_payload(link.last_payload)
        assert link.last_seen_at is not None


@pytest.mark.django_db
def test_link_payloads_speak_the_source_systems_language(seeded):
    customer = Customer.objects.get(name="上海华东贸易有限公司")
    erp = SourceLink.objects.get(source__code="erp", domain="customer", golden_id=customer.pk)
    assert erp.last_payload["NAME1"] == customer.name
    assert erp.last_payload["STCD1"] == customer.tax_id
    employee = Employee.objects.exclude(manager=None).first()
    hr = SourceLink.objects.get(source__code="hr", domain="employee", golden_id=employee.pk)
    enterprise = hr.last_payload["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert enterprise["employeeNumber"] == employee.code
    assert enterprise["manager"]["value"] == f"W{employee.manager.code}"


@pytest.mark.django_db
def test_the_links_are_made_by_pulling_the_sources_not_written_past_the_pipeline(seeded):
    runs = {(run.source.code, run.domain): run for run in SyncRun.objects.all()}
    assert set(runs) == {(d.source, d.domain) for d in drops.DROPS}
    assert {run.trigger for run in runs.values()} == {"command"}
    for (source, domain), run in runs.items():
        links = SourceLink.objects.filter(source__code=source, domain=domain)
        assert run.fetched >= links.count() > 0
        assert not links.exclude(last_seen_at__gte=run.started_at).exists()


# --- something to act on --------------------------------------------------------------------------
@pytest.mark.django_db
def test_every_demo_source_has_a_completed_sync_run(seeded):
    statuses = {(run.source.code, run.domain): run.status for run in seeded.runs}
    assert set(statuses.values()) <= {"succeeded", "partial"}
    assert {source for source, _ in statuses} == {"erp", "crm", "hr"}
    assert statuses[("erp", "supplier")] == "succeeded" and statuses[("erp", "customer")] == "partial"


@pytest.mark.django_db
def test_the_records_the_sources_hold_wrongly_wait_in_the_failure_queue(seeded):
    failures = SyncFailure.objects.filter(status="open")
    assert failures.count() == len(demo.build().rejects) == 7
    assert {(f.source.code, f.domain, f.stage) for f in failures} == {
        ("erp", "customer", "map"), ("erp", "customer", "validate"), ("erp", "material", "map"),
        ("hr", "employee", "map"), ("hr", "employee", "validate"), ("crm", "customer", "validate"),
    }  # fmt: skip
    assert not Customer.objects.filter(code__in=["CUS-900001", "CUS-900002"]).exists()
    bad_limit = failures.get(source_key="CUS-900001")
    assert "O" in bad_limit.payload["KLIMK"] and "credit_limit" in bad_limit.errors
    assert Decimal(bad_limit.payload["KLIMK"].replace("O", "0"))  # corrected, it is a number


@pytest.mark.django_db
def test_the_erp_and_the_crm_disagree_on_a_few_addresses_at_equal_trust(seeded):
    conflicts = Conflict.objects.filter(status="open", domain="customer")
    assert 5 <= conflicts.count() <= 20
    assert set(conflicts.values_list("field", "reason").distinct()) == {("address", "equal_trust")}
    conflict = conflicts.first()
    assert {candidate["source"] for candidate in conflict.candidates} == {"erp", "crm"}
    erp_address = next(c["value"] for c in conflict.candidates if c["source"] == "erp")
    assert Customer.objects.get(pk=conflict.golden_id).address == erp_address  # nothing overwritten silently


# --- the drop files -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_sources_drop_files_in_their_own_encodings(seeded, drop_dir):
    customers = (drop_dir / "erp" / "customers.csv").read_bytes()
    assert customers.startswith(b"\xef\xbb\xbfKUNNR;")
    materials = (drop_dir / "erp" / "materials.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        materials.decode("utf-8")
    assert "不锈钢板 304" in materials.decode("gb18030")
    crm = json.loads((drop_dir / "crm" / "customers.json").read_text(encoding="utf-8"))
    assert crm["total"] == len(crm["data"]) and set(crm["data"][0]) >= {"id", "name", "credit_score"}
    users = (drop_dir / "hr" / "users.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(users) == 202 and json.loads(users[0])["schemas"][0] == "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.mark.django_db
def test_the_demo_sources_are_configured_by_the_shipped_demo_config(seeded, drop_dir):
    exported = landscape.demo_config(drop_dir)
    assert [source["code"] for source in exported["sources"]] == ["erp", "crm", "hr"]
    out = io.StringIO()
    call_command("import_config", str(ROOT / "examples" / "demo.yaml"), "--dry-run", stdout=out)
    changed = [line for line in out.getvalue().splitlines() if line.startswith(("+", "~"))]
    assert changed and all(".connection.base_url" in line for line in changed)  # only where the files are


# --- history ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_history_names_the_source_and_the_sync_run_without_a_user(seeded):
    for domain in registry:
        if domain.name == "plant":
            continue
        rows = domain.model_class.history.all()
        assert rows.exists()
        reasons = set(rows.values_list("history_change_reason", flat=True))
        expected = {"demo data"} if domain.name == "org_unit" else set()
        assert {r for r in reasons if not r.startswith("sync run #")} == expected
        assert not rows.exclude(history_user=None).exists()
        assert not rows.filter(history_source=None).exists()
    erp = SourceSystem.objects.get(code="erp")
    assert Customer.history.filter(history_source=erp, history_type="+").count() == 300
    assert OrgUnit.history.filter(history_change_reason="demo data", history_type="+").count() == 28


# --- logins -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_and_stewards_get_the_passwords_given(seeded):
    users = get_user_model().objects
    admin = users.get(username="admin")
    assert admin.is_superuser and admin.check_password(ADMIN_PASSWORD)
    for username in ("steward_de", "steward_cn", "steward_us"):
        assert users.get(username=username).check_password(DEMO_PASSWORD)
    shown = {login.username: login.password for login in seeded.logins}
    assert shown["admin"] == ADMIN_PASSWORD and shown["steward_cn"] == DEMO_PASSWORD


@pytest.mark.django_db
def test_a_steward_sees_and_changes_only_the_records_of_their_company(seeded):
    steward = get_user_model().objects.get(username="steward_cn")
    assert steward.groups.filter(name="Data stewards").exists()
    assert steward.has_perm("masterdata.change_customer")
    customers = registry.get("customer")
    visible = access.restrict(steward, customers, Customer.objects.all())
    assert visible.exists()
    assert set(visible.values_list("owner_org__code", flat=True)) <= {"MER-CN", "MER-CN-SALES"}
    assert visible.count() == Customer.objects.filter(owner_org__code__startswith="MER-CN").count()
    foreign = Customer.objects.filter(owner_org__code__startswith="MER-DE").first()
    own = visible.first()
    assert access.can_act_on(steward, own, "change")
    assert not access.can_act_on(steward, foreign, "view")


@pytest.mark.django_db
def test_the_erp_integration_token_reads_customers_of_every_company(seeded):
    token = next(login.token for login in seeded.logins if login.username == "erp-integration")
    assert tokens.authenticate(token).user.username == "erp-integration"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/customers/", {"country": "US"})
    assert response.status_code == 200, response.content
    assert response.json()["results"]


# --- idempotency ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_seeding_again_changes_nothing(seeded, drop_dir, monkeypatch):
    before = snapshot()
    files = {path: path.stat().st_mtime_ns for path in drop_dir.rglob("*")}
    monkeypatch.setenv("MDM_ADMIN_PASSWORD", "another-password-9")
    output = seed_demo(drop_dir, "--allow-production")
    assert snapshot() == before
    assert {path: path.stat().st_mtime_ns for path in drop_dir.rglob("*")} == files
    assert "nothing changed" in output
    assert get_user_model().objects.get(username="admin").check_password(ADMIN_PASSWORD)
    assert "password unchanged" in output


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_without_debug(seeded, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed_demo(Path("unused"))


@pytest.mark.django_db
def test_seed_demo_recreates_missing_logins_and_prints_their_secrets(seeded, drop_dir, settings, monkeypatch):
    settings.DEBUG = True
    monkeypatch.delenv("MDM_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("MDM_DEMO_PASSWORD", "From-the-env-42")
    logins = ["admin", "steward_de", "steward_cn", "steward_us", "erp-integration"]
    get_user_model().objects.filter(username__in=logins).delete()
    text = seed_demo(drop_dir)
    admin_line = next(line for line in text.splitlines() if line.strip().startswith("admin — "))
    generated = admin_line.split("password: ")[1].strip()
    assert len(generated) >= 12 and get_user_model().objects.get(username="admin").check_password(generated)
    assert get_user_model().objects.get(username="steward_us").check_password("From-the-env-42")
    assert "steward_us — steward of MER-US" in text
    token = text.split("API token: ")[1].split()[0]
    assert tokens.authenticate(token).user.username == "erp-integration"
    assert Group.objects.get(name="Data stewards").user_set.count() == 3


# --- the integration account and a second look at the sources ------------------------------------
@pytest.mark.django_db
def test_the_erp_integration_account_may_post_erp_customers_to_the_ingest_endpoint(seeded):
    token = next(login.token for login in seeded.logins if login.username == "erp-integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    row = dict(SourceLink.objects.filter(source__code="erp", domain="customer").first().last_payload)
    row.update(KUNNR="CUS-000901", NAME1="Neue Kunde GmbH", STCD1="DE811111111", SMTP_ADDR="einkauf@neu.example")

    response = client.post("/api/v1/ingest/erp/customer/", [row], format="json", HTTP_IDEMPOTENCY_KEY="demo-1")
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["outcome"] == "created"
    crm = client.post("/api/v1/ingest/crm/customer/", [{"id": "X"}], format="json", HTTP_IDEMPOTENCY_KEY="demo-2")
    assert crm.status_code == 403


@pytest.mark.django_db
def test_a_rewritten_drop_file_is_pulled_again_and_its_unchanged_records_are_skipped(seeded, drop_dir):
    (drop_dir / "erp" / "suppliers.csv").unlink()
    versions = dict(Supplier.objects.values_list("code", "version"))

    output = seed_demo(drop_dir, "--allow-production")

    assert "file      erp/suppliers.csv" in output
    run = SyncRun.objects.filter(source__code="erp", domain="supplier").order_by("-id").first()
    assert (run.status, run.fetched, run.unchanged, run.created, run.updated) == ("succeeded", 150, 150, 0, 0)
    assert dict(Supplier.objects.values_list("code", "version")) == versions
