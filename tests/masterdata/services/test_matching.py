"""Matching unlinked source records (exact keys, then fuzzy) and the duplicate scan."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from masterdata.models import Customer, DuplicateSuspect, SourceLink, SuspectStatus
from masterdata.services import matching
from masterdata.services.ingest import ingest_batch
from tests.factories import CustomerFactory

from .conftest import incoming

pytestmark = pytest.mark.django_db


# --- normalisation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Alpha Trading Co., Ltd.", "alpha trading"),
        ("ALPHA  TRADING GmbH", "alpha trading"),
        ("上海华东贸易有限公司", "上海华东贸易"),
        ("美瑞（上海）工业有限公司", "美瑞 上海 工业"),
        ("Ｆｕｌｌ Ｗｉｄｔｈ", "full width"),
        ("The Company", "the company"),  # nothing but noise: keep it rather than nothing
        (None, ""),
    ],
)
def test_names_are_normalised_without_case_punctuation_width_or_legal_forms(raw, normalised):
    assert matching.normalise(raw) == normalised


def test_chinese_names_block_on_two_characters_so_reordered_names_still_meet():
    assert matching.blocking_keys(matching.normalise("上海华东贸易有限公司")) == {"上海", "华东"}
    assert matching.blocking_keys(matching.normalise("华东贸易（上海）有限公司")) & {"上海", "华东"}


def test_latin_names_block_on_the_first_letters_of_their_first_two_words():
    assert matching.blocking_keys("alpha trading") == {"alph", "trad"}


def test_the_name_weighs_most_and_missing_fields_are_left_out():
    fields = ("name", "address")

    both, reasons = matching.similarity(
        {"name": "alpha trading", "address": "1 main st"}, {"name": "alpha trading", "address": "9 side rd"}, fields
    )
    name_only, _ = matching.similarity({"name": "alpha trading", "address": ""}, {"name": "alpha trading"}, fields)

    assert name_only == 100
    assert 70 <= both < 100
    assert set(reasons) == {"name", "address"}


# --- exact matching in the pipeline ---------------------------------------------------------------
def test_a_crm_record_with_the_tax_id_of_an_erp_record_links_to_the_same_golden_record(erp, crm, customer_domain):
    created = ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Alpha", tax_id="9131")])

    result = ingest_batch(crm, customer_domain, [incoming("R77", code="CRM-77", name="Alpha", tax_id="9131")])

    golden_id = created.outcomes[0].golden_id
    assert result.outcomes[0].golden_id == golden_id
    assert Customer.objects.count() == 1
    assert Customer.objects.get().code == "C-1"  # the business key stays the ERP's
    assert SourceLink.objects.get(source=crm).golden_id == golden_id


def test_identity_keys_are_tried_in_registry_order_code_first(erp, crm, customer_domain):
    by_code = CustomerFactory(code="C-1", tax_id="T-OTHER")
    CustomerFactory(code="C-2", tax_id="T-1")

    result = ingest_batch(crm, customer_domain, [incoming("R1", code="C-1", name="X", tax_id="T-1")])

    assert result.outcomes[0].golden_id == by_code.pk


def test_records_of_one_batch_sharing_an_identity_key_become_one_golden_record(crm, customer_domain):
    result = ingest_batch(
        crm,
        customer_domain,
        [
            incoming("R1", code="C-1", name="Alpha", email="info@alpha.example"),
            incoming("R2", code="C-1", name="Alpha", email="info@alpha.example", phone="123"),
        ],
    )

    first, second = result.outcomes
    assert (first.outcome, second.outcome) == ("created", "updated")
    assert first.golden_id == second.golden_id
    assert Customer.objects.get().phone == "123"
    assert SourceLink.objects.filter(golden_id=first.golden_id).count() == 2


# --- fuzzy matching in the pipeline ---------------------------------------------------------------
@pytest.fixture
def alpha(erp, customer_domain):
    result = ingest_batch(
        erp, customer_domain, [incoming("E1", code="C-1", name="Alpha Trading Co., Ltd.", address="1 Harbour Road")]
    )
    return Customer.objects.get(pk=result.outcomes[0].golden_id)


def test_a_near_identical_name_is_linked_automatically_above_the_auto_link_score(alpha, crm, customer_domain):
    result = ingest_batch(
        crm, customer_domain, [incoming("R1", code="R-1", name="ALPHA TRADING CO LTD", address="1 Harbour Road")]
    )

    assert result.outcomes[0].golden_id == alpha.pk
    assert Customer.objects.count() == 1
    assert not DuplicateSuspect.objects.exists()


def test_a_similar_name_creates_a_new_record_and_a_duplicate_suspect(alpha, crm, customer_domain, settings):
    settings.MDM_AUTO_LINK_SCORE = 95
    settings.MDM_DUPLICATE_SUSPECT_SCORE = 85

    result = ingest_batch(
        crm, customer_domain, [incoming("R1", code="R-1", name="Alpha Trading Intl", address="1 Harbour Rd")]
    )

    (outcome,) = result.outcomes
    assert outcome.outcome == "duplicate_suspect"
    assert outcome.golden_id != alpha.pk
    pair = DuplicateSuspect.objects.get()
    assert (pair.golden_id_a, pair.golden_id_b) == (alpha.pk, outcome.golden_id)
    assert 85 <= pair.score < 95
    assert set(pair.reasons["fuzzy"]) == {"name", "address"}
    assert pair.status == SuspectStatus.OPEN


def test_the_auto_link_score_can_be_given_per_batch(alpha, crm, customer_domain):
    result = ingest_batch(
        crm,
        customer_domain,
        [incoming("R1", code="R-1", name="Alpha Trading Intl", address="1 Harbour Rd")],
        auto_link_score=80,
    )

    assert result.outcomes[0].golden_id == alpha.pk


def test_a_different_name_creates_a_new_record_without_suspect(alpha, crm, customer_domain):
    result = ingest_batch(crm, customer_domain, [incoming("R1", code="R-1", name="Alphabet Soup Kitchen")])

    assert result.outcomes[0].outcome == "created"
    assert not DuplicateSuspect.objects.exists()


def test_chinese_names_are_matched_too(erp, crm, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="上海华东贸易有限公司")])

    result = ingest_batch(crm, customer_domain, [incoming("R1", code="R-1", name="上海华东贸易有限公司 ")])

    assert result.outcomes[0].golden_id == Customer.objects.get(code="C-1").pk


# --- the duplicate scan ---------------------------------------------------------------------------
@override_settings(MDM_DUPLICATE_SUSPECT_SCORE=85)
def test_the_scan_finds_likely_duplicates_once_and_never_a_pair_marked_not_duplicate(customer_domain, org):
    one = CustomerFactory(name="Alpha Trading Co., Ltd.", owner_org=org.a)
    two = CustomerFactory(name="Alpha Trading Company")
    CustomerFactory(name="Beta Retail")
    three = CustomerFactory(name="华东贸易（上海）有限公司")
    four = CustomerFactory(name="上海华东贸易有限公司")

    found = matching.find_duplicates(customer_domain)

    pairs = {(p.golden_id_a, p.golden_id_b) for p in DuplicateSuspect.objects.all()}
    assert pairs == {(one.pk, two.pk), (three.pk, four.pk)}
    assert len(found.pairs) == 2
    assert DuplicateSuspect.objects.get(golden_id_a=one.pk).owner_org == org.a

    matching.mark_not_duplicate(DuplicateSuspect.objects.get(golden_id_a=one.pk), user=None)
    again = matching.find_duplicates(customer_domain)

    assert again.pairs == []
    assert DuplicateSuspect.objects.get(golden_id_a=one.pk).status == SuspectStatus.NOT_DUPLICATE


def test_the_scan_can_report_without_writing(customer_domain):
    CustomerFactory(name="Gamma Logistics")
    CustomerFactory(name="Gamma Logistics Ltd")

    found = matching.find_duplicates(customer_domain, write=False)

    assert len(found.pairs) == 1
    assert not DuplicateSuspect.objects.exists()


def test_marking_not_a_duplicate_needs_resolve_scope_on_the_pair(customer_domain, org, steward_b):
    one = CustomerFactory(name="Delta Foods", owner_org=org.a)
    CustomerFactory(name="Delta Foods Ltd", owner_org=org.a)
    matching.find_duplicates(customer_domain)

    with pytest.raises(matching.OutOfScope):
        matching.mark_not_duplicate(DuplicateSuspect.objects.get(golden_id_a=one.pk), user=steward_b)


# --- blocks on the core name ----------------------------------------------------------------------
def test_a_name_differing_only_by_the_city_prefix_is_the_same_company(erp, crm, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="上海华为技术有限公司")])

    result = ingest_batch(crm, customer_domain, [incoming("R1", code="R-1", name="华为技术有限公司")])

    assert result.outcomes[0].golden_id == Customer.objects.get(code="C-1").pk


def test_a_name_differing_only_by_legal_form_and_case_is_the_same_company(erp, crm, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="Acme GmbH")])

    result = ingest_batch(crm, customer_domain, [incoming("R1", code="R-1", name="ACME Ltd.")])

    assert result.outcomes[0].golden_id == Customer.objects.get(code="C-1").pk


def test_the_same_brand_in_two_different_cities_is_not_linked(erp, crm, customer_domain):
    ingest_batch(erp, customer_domain, [incoming("E1", code="C-1", name="北京华为技术有限公司")])

    result = ingest_batch(crm, customer_domain, [incoming("R1", code="R-1", name="上海华为技术有限公司")])

    assert result.outcomes[0].outcome == "created"
    assert Customer.objects.count() == 2


BRANDS = "华瑞达美恒信鑫源泰嘉宏盛兴隆丰安康富通远博创新百佳联合金银星光明德利永昌"


def shanghai_names(count: int) -> list[str]:
    """Distinct Shanghai trading companies: one city, ``count`` brands."""
    pairs = [a + b for a in BRANDS for b in BRANDS if a != b]
    return [f"上海{pairs[n]}贸易有限公司" for n in range(count)]


@pytest.fixture
def shanghai(customer_domain):
    population = shanghai_names(600)
    Customer.objects.bulk_create(
        Customer(code=f"SH{n:04d}", name=name, country="CN", credit_rating="A") for n, name in enumerate(population)
    )
    return population


def test_a_batch_from_one_city_reads_only_its_own_brands_not_the_whole_city(shanghai, crm, customer_domain):
    batch = [name.replace("有限公司", "股份有限公司") for name in shanghai[::30]]  # 20 names of the 600

    keys = set(matching.block_keys_of(batch))
    blocks = matching.read_blocks(customer_domain, crm, keys)

    read = sum(len(block.ids) for block in blocks.values())
    assert len(batch) <= read <= 2 * len(batch)  # the city prefix alone would read all 600
    found = matching.fuzzy_candidates(customer_domain, crm, {n: {"name": name} for n, name in enumerate(batch)}, 85)
    assert len(found) == len(batch)


def test_the_block_query_is_served_by_the_core_name_index(shanghai, crm, customer_domain):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM masterdata_customer WHERE mdm_name_block(name) = ANY(%s)",
            [sorted(matching.block_keys_of(shanghai[:5]))],
        )
        plan = "\n".join(row for (row,) in cursor.fetchall())

    assert "customer_name_coreblock" in plan
