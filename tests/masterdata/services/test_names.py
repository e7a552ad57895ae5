"""Core names: region, legal form and article removed, so blocks hold one brand, not one city."""

from __future__ import annotations

import importlib
import re

import pytest
from django.db import connection

from masterdata.services import names

MIGRATION = importlib.import_module("masterdata.migrations.0010_core_name_blocks")


@pytest.mark.parametrize(
    ("raw", "core"),
    [
        ("上海华为技术有限公司", "华为技术"),
        ("华为技术有限公司", "华为技术"),
        ("上海市华为技术股份有限公司", "华为技术"),
        ("广东省深圳市腾讯科技有限公司", "腾讯科技"),
        ("华东贸易（上海）有限公司", "华东贸易"),
        ("北京华为集团股份有限公司", "华为"),
        ("华为技术有限公司北京分公司", "华为技术有限公司北京"),  # only trailing legal forms go
        ("Acme GmbH", "acme"),
        ("ACME Ltd.", "acme"),
        ("The Acme Trading Co., Ltd.", "acme trading"),
        ("Acme S.p.A.", "acme"),
        ("Acme B.V.", "acme"),
        ("Acme Holding S.A.", "acme"),
        ("Shanghai Acme Trading Inc", "acme trading"),
        ("Ｆｕｌｌ Ｗｉｄｔｈ ＬＬＣ", "full width"),
        ("上海有限公司", ""),  # nothing but region and legal form
    ],
)
def test_the_core_name_drops_region_legal_form_and_article(raw, core):
    assert names.core_name(raw) == core


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("上海华为技术有限公司", "华为"),
        ("北京华为技术有限公司", "华为"),
        ("Acme GmbH", "acme"),
        ("The ACME Ltd.", "acme"),
        ("Smith Global Trading GmbH", "smitglob"),  # a surname alone is a block of hundreds
        ("上海有限公司", "上海"),  # empty core: the old key, the start of the name
        ("AG", "ag"),
        ("", ""),
    ],
)
def test_the_block_is_the_start_of_the_core_or_of_the_name_when_no_core_is_left(raw, key):
    assert names.block_key(raw) == key


def test_no_region_is_the_start_of_another_so_every_regex_engine_strips_the_same():
    for region in names.REGIONS:
        assert not [other for other in names.REGIONS if other != region and other.startswith(region)]
    for suffix in names.REGION_SUFFIXES:
        assert not [other for other in names.REGION_SUFFIXES if other != suffix and other.startswith(suffix)]


def test_regions_tell_companies_apart_only_when_both_names_have_one():
    shanghai, beijing, bare = (names.standardise(n) for n in ("上海华为有限公司", "北京华为有限公司", "华为有限公司"))

    assert names.regions_conflict(shanghai, beijing)
    assert not names.regions_conflict(shanghai, bare)
    assert not names.regions_conflict(shanghai, names.standardise("华为（上海）有限公司"))


SAMPLES = [
    "上海华为技术有限公司",
    "广西壮族自治区南宁市东盟贸易有限公司",
    "华东贸易（上海）有限公司",
    "香港特别行政区嘉华集团",
    "上海有限公司",
    "Acme GmbH",
    "ACME Ltd.",
    "The Acme Trading Co., Ltd.",
    "Ｆｕｌｌ Ｗｉｄｔｈ ＬＬＣ",
    "Müller & Söhne KG",
    "L'Oréal S.A.",
    "Shanghai Pudong Development",
    "Smith Global Trading GmbH",
    "  ",
    "AG",
    "株式会社トヨタ",
]


@pytest.mark.django_db
def test_the_database_function_computes_the_same_block_as_python():
    with connection.cursor() as cursor:
        cursor.execute("SELECT v, mdm_name_block(v) FROM unnest(%s::text[]) AS t(v)", [SAMPLES])
        in_database = dict(cursor.fetchall())

    assert in_database == {name: names.block_key(name) for name in SAMPLES}


def test_the_migration_creates_the_function_the_names_module_describes():
    def squeezed(sql: str) -> str:
        return re.sub(r"\s+", " ", sql).strip()

    assert squeezed(MIGRATION.FUNCTION) == squeezed(names.block_key_function_sql())
