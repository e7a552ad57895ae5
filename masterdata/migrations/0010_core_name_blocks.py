# ruff: noqa: E501  (the function text below is SQL written out whole: long regex alternations)
"""Fuzzy blocks on the core name (PostgreSQL; nothing on other databases).

0009 indexed ``UPPER(SUBSTRING(name, 1, 2|4))``: for Chinese names that is the city (上海…), a
block holding most of a table. The ingest pipeline now blocks on ``mdm_name_block(name)``, the
first characters of the name without region, legal form and article (two CJK characters, or
four letters of each of the first two words)
(:mod:`masterdata.services.names`). This creates that immutable function, an expression index on
it per domain table (built from the existing rows, so no backfill is needed and every write
path keeps it current) and drops the prefix indexes nobody reads any more.

The function text is written out here, not imported, so this migration keeps creating the same
function whatever later versions of the names module say; a change of the key needs a new
migration that replaces the function and rebuilds these indexes.
"""

from django.db import migrations

BLOCK_COLUMNS = [
    ("masterdata_customer", "name"),
    ("masterdata_supplier", "name"),
    ("masterdata_material", "name"),
    ("masterdata_orgunit", "name"),
    ("masterdata_employee", "name"),
]
OLD_SIZES = (4, 2)

FUNCTION = r"""
CREATE OR REPLACE FUNCTION mdm_name_block(raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $fn$
DECLARE
    s text := lower(normalize(raw, NFKC));
    whole text;
BEGIN
    IF btrim(raw) = '' THEN
        RETURN '';
    END IF;
    whole := regexp_replace(regexp_replace(regexp_replace(s, '\.', '', 'g'), '[\s!-/:-@\[-`{-~、。·“”‘’《》【】「」]+', ' ', 'g'),
                            '^ +| +$', '', 'g');
    s := regexp_replace(s, '\((?:乌鲁木齐|呼和浩特|内蒙古|哈尔滨|石家庄|黑龙江|上海|东莞|云南|佛山|保定|兰州|北京|南京|南宁|南昌|南通|厦门|台州|台湾|合肥|吉林|唐山|嘉兴|四川|大连|天津|太原|宁夏|宁波|安徽|山东|山西|常州|广东|广州|广西|徐州|惠州|成都|扬州|拉萨|新疆|无锡|昆明|杭州|武汉|汕头|江苏|江西|沈阳|河北|河南|泉州|洛阳|济南|浙江|海南|海口|深圳|温州|湖北|湖南|潍坊|澳门|烟台|珠海|甘肃|福州|福建|绍兴|苏州|西宁|西安|西藏|贵州|贵阳|辽宁|郑州|重庆|金华|银川|长春|长沙|陕西|青岛|青海|香港)(?:维吾尔自治区|回族自治区|壮族自治区|特别行政区|自治区|市|省)?\)', ' ', 'g');
    s := regexp_replace(s, '\.', '', 'g');
    s := regexp_replace(s, '[\s!-/:-@\[-`{-~、。·“”‘’《》【】「」]+', ' ', 'g');
    s := regexp_replace(s, '^ +| +$', '', 'g');
    s := regexp_replace(s, '^(?:乌鲁木齐|呼和浩特|内蒙古|哈尔滨|石家庄|黑龙江|上海|东莞|云南|佛山|保定|兰州|北京|南京|南宁|南昌|南通|厦门|台州|台湾|合肥|吉林|唐山|嘉兴|四川|大连|天津|太原|宁夏|宁波|安徽|山东|山西|常州|广东|广州|广西|徐州|惠州|成都|扬州|拉萨|新疆|无锡|昆明|杭州|武汉|汕头|江苏|江西|沈阳|河北|河南|泉州|洛阳|济南|浙江|海南|海口|深圳|温州|湖北|湖南|潍坊|澳门|烟台|珠海|甘肃|福州|福建|绍兴|苏州|西宁|西安|西藏|贵州|贵阳|辽宁|郑州|重庆|金华|银川|长春|长沙|陕西|青岛|青海|香港)(?:维吾尔自治区|回族自治区|壮族自治区|特别行政区|自治区|市|省)?', '', 'g');
    s := regexp_replace(s, '^(?:乌鲁木齐|呼和浩特|内蒙古|哈尔滨|石家庄|黑龙江|上海|东莞|云南|佛山|保定|兰州|北京|南京|南宁|南昌|南通|厦门|台州|台湾|合肥|吉林|唐山|嘉兴|四川|大连|天津|太原|宁夏|宁波|安徽|山东|山西|常州|广东|广州|广西|徐州|惠州|成都|扬州|拉萨|新疆|无锡|昆明|杭州|武汉|汕头|江苏|江西|沈阳|河北|河南|泉州|洛阳|济南|浙江|海南|海口|深圳|温州|湖北|湖南|潍坊|澳门|烟台|珠海|甘肃|福州|福建|绍兴|苏州|西宁|西安|西藏|贵州|贵阳|辽宁|郑州|重庆|金华|银川|长春|长沙|陕西|青岛|青海|香港)(?:维吾尔自治区|回族自治区|壮族自治区|特别行政区|自治区|市|省)?', '', 'g');
    s := regexp_replace(s, '^(?:chongqing|guangdong|guangzhou|dongguan|hangzhou|shandong|shanghai|shenzhen|zhejiang|beijing|chengdu|jiangsu|nanjing|qingdao|tianjin|foshan|fujian|ningbo|suzhou|xiamen|wuhan|wuxi) ', '', 'g');
    s := regexp_replace(s, '^(?:das|der|die|het|las|les|los|the|an|de|el|il|la|le|a|l) ', '', 'g');
    s := regexp_replace(s, '(?: ?(?:有限责任公司|股份有限公司|有限公司|股份公司|责任公司|分公司|公司|集团)| (?:incorporated|corporation|holdings|company|holding|limited|group|corp|gmbh|sarl|and|aps|inc|llc|llp|ltd|mbh|ohg|plc|pte|pty|sas|spa|srl|und|ab|ag|as|bv|co|et|ev|kg|kk|lp|nv|oy|sa|se|ug))+$', '', 'g');
    s := regexp_replace(s, '^ +| +$', '', 'g');
    IF s = '' THEN
        s := whole;
    END IF;
    IF s ~ '^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]' THEN
        RETURN left(replace(s, ' ', ''), 2);
    END IF;
    RETURN left(split_part(s, ' ', 1), 4) || left(split_part(s, ' ', 2), 4);
END
$fn$;
"""


def old_index(table: str, column: str, size: int) -> str:
    return f"{table.removeprefix('masterdata_')}_{column}_block{size}"


def core_index(table: str, column: str) -> str:
    return f"{table.removeprefix('masterdata_')}_{column}_coreblock"


def forwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for table, column in BLOCK_COLUMNS:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{core_index(table, column)}" ON "{table}" ((mdm_name_block("{column}")))'
        )
        for size in OLD_SIZES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{old_index(table, column, size)}"')
        schema_editor.execute(f'ANALYZE "{table}"')  # statistics of the new expression for the planner


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in BLOCK_COLUMNS:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{core_index(table, column)}"')
        for size in OLD_SIZES:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{old_index(table, column, size)}" '
                f'ON "{table}" ((UPPER(SUBSTRING("{column}", 1, {size}))))'
            )
    schema_editor.execute("DROP FUNCTION IF EXISTS mdm_name_block(text)")


class Migration(migrations.Migration):
    dependencies = [("masterdata", "0009_fuzzy_block_indexes")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
