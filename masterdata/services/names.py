"""Core names: what is left of a company name once region, legal form and articles are gone.

Chinese company names mostly read *region + brand + trade + legal form* (上海华东贸易有限公司),
Western ones *article + words + legal form* (The Acme Trading GmbH). Blocking on the first
characters of such a name puts every company of one city, or every "The …", into one giant
block. MDM products therefore standardise the name first and block on its *core*: leading
administrative regions (上海, 广东省深圳市, a bracketed （上海）, "Shanghai …"), legal forms and
generic suffixes (有限公司, 集团, GmbH, Ltd, S.A. …) and leading articles are removed.

The block key is defined twice, on purpose identically: here in Python (:func:`block_key`, used
where no database is involved) and as the PostgreSQL function ``mdm_name_block(text)`` built from
the same patterns (:func:`block_key_function_sql`), which the candidate query filters on and
an expression index per domain table serves. A test checks that both agree.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# fmt: off
#: Provinces, autonomous regions, municipalities, SARs and major prefecture-level cities of China.
#: No entry is a prefix of another (so every regex engine strips the same region).
REGIONS = (
    "北京", "天津", "上海", "重庆", "香港", "澳门",
    "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南",
    "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆",
    "深圳", "广州", "苏州", "杭州", "南京", "成都", "武汉", "宁波", "青岛", "无锡", "厦门", "西安", "郑州", "长沙",
    "沈阳", "大连", "济南", "合肥", "福州", "昆明", "哈尔滨", "长春", "石家庄", "太原", "南昌", "南宁", "贵阳",
    "兰州", "海口", "乌鲁木齐", "呼和浩特", "银川", "西宁", "拉萨", "东莞", "佛山", "珠海", "惠州", "汕头", "温州",
    "嘉兴", "绍兴", "金华", "台州", "常州", "南通", "徐州", "扬州", "泉州", "烟台", "潍坊", "唐山", "保定", "洛阳",
)
#: Administrative suffixes a region may carry (广西壮族自治区, 上海市, 香港特别行政区).
REGION_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
#: Romanised regions that open Western spellings of Chinese names ("Shanghai Acme Trading").
LATIN_REGIONS = (
    "beijing", "tianjin", "shanghai", "chongqing", "shenzhen", "guangzhou", "suzhou", "hangzhou", "nanjing",
    "chengdu", "wuhan", "ningbo", "qingdao", "wuxi", "xiamen", "dongguan", "foshan", "guangdong", "jiangsu",
    "zhejiang", "shandong", "fujian",
)
#: Legal forms and generic suffixes at the end of a Chinese name, longest first.
CJK_LEGAL = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "责任公司", "分公司", "集团", "公司")
#: Legal forms and generic words at the end of a Western name (dots already removed: "s.a." is "sa").
LATIN_LEGAL = (
    "gmbh", "mbh", "ag", "kg", "ohg", "ug", "ev", "se", "ltd", "limited", "llc", "llp", "lp", "plc", "inc",
    "incorporated", "corp", "corporation", "co", "company", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy",
    "ab", "as", "aps", "kk", "pte", "pty", "group", "holding", "holdings", "and", "und", "et",
)
#: Articles that open a Western name ("The", "Le", "Die" …).
ARTICLES = ("the", "a", "an", "le", "la", "les", "l", "der", "die", "das", "el", "los", "las", "il", "de", "het")
# fmt: on

#: Characters that never tell names apart: ASCII punctuation, whitespace and CJK punctuation.
PUNCTUATION = r"[\s!-/:-@\[-`{-~、。·“”‘’《》【】「」]+"
#: Scripts blocked on fewer characters (CJK ideographs, kana, hangul carry more per character).
CJK_START = r"^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"
#: Characters of the block: of a CJK core, of each of the first two words of a Latin core.
CJK_BLOCK = 2
LATIN_BLOCK = 4


def _alternatives(words: tuple[str, ...]) -> str:
    return "|".join(sorted(words, key=lambda w: (-len(w), w)))


REGION_PATTERN = f"(?:{_alternatives(REGIONS)})(?:{_alternatives(REGION_SUFFIXES)})?"
#: Each step is (pattern, replacement), applied in order, in Python and in PostgreSQL alike.
STEPS: tuple[tuple[str, str], ...] = (
    (rf"\({REGION_PATTERN}\)", " "),  # 华东贸易(上海)有限公司 (brackets are ASCII after NFKC)
    (r"\.", ""),  # S.A. → sa, Co. → co
    (PUNCTUATION, " "),
    (r"^ +| +$", ""),
    (f"^{REGION_PATTERN}", ""),  # 广东省 …
    (f"^{REGION_PATTERN}", ""),  # … 深圳市
    (f"^(?:{_alternatives(LATIN_REGIONS)}) ", ""),
    (f"^(?:{_alternatives(ARTICLES)}) ", ""),
    (f"(?: ?(?:{_alternatives(CJK_LEGAL)})| (?:{_alternatives(LATIN_LEGAL)}))+$", ""),
    (r"^ +| +$", ""),
)
_COMPILED = tuple((re.compile(pattern), replacement) for pattern, replacement in STEPS)
_CJK_START = re.compile(CJK_START)
_LEADING_REGION = re.compile(rf"^\(?({'|'.join(sorted(REGIONS, key=lambda w: (-len(w), w)))})")
_BRACKETED_REGION = re.compile(rf"\(({_alternatives(REGIONS)})(?:{_alternatives(REGION_SUFFIXES)})?\)")


def folded(name: str) -> str:
    """Width- and case-folded text: NFKC then lower case, as ``lower(normalize(…, NFKC))``."""
    return unicodedata.normalize("NFKC", name).lower()


@lru_cache(maxsize=65_536)
def core_name(name: str) -> str:
    """The distinctive part of ``name``: "上海华为技术有限公司" → "华为技术", "The Acme GmbH" → "acme"."""
    text = folded(name)
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text


def _prefix(text: str) -> str:
    """2 CJK characters, or 4 letters of each of the first two words ("smith global" → "smitglob"):
    the first word of a Western name is often a surname shared by hundreds of companies."""
    if _CJK_START.match(text):
        return text.replace(" ", "")[:CJK_BLOCK]
    return "".join(word[:LATIN_BLOCK] for word in text.split(" ")[:2])


def block_key(name: str | None) -> str:
    """The block of ``name``: the start of its core name (:func:`_prefix`), or of the whole name
    (punctuation-free) when nothing but region and legal form is left ("上海有限公司")."""
    if not name or not name.strip():
        return ""
    core = core_name(name)
    if core:
        return _prefix(core)
    return _prefix(_COMPILED[3][0].sub("", _COMPILED[2][0].sub(" ", _COMPILED[1][0].sub("", folded(name)))))


@dataclass(frozen=True)
class Standardised:
    """A name as matching compares it: the region it names (if any) and its core."""

    region: str
    core: str


@lru_cache(maxsize=65_536)
def standardise(name: str) -> Standardised:
    text = folded(name)
    bracketed = _BRACKETED_REGION.search(text)
    leading = _LEADING_REGION.match(text)
    region = bracketed.group(1) if bracketed else leading.group(1) if leading else ""
    return Standardised(region, core_name(name))


def regions_conflict(a: Standardised, b: Standardised) -> bool:
    """Both names name a region and not the same one: 北京华为 and 上海华为 are different companies."""
    return bool(a.region and b.region and a.region != b.region)


def block_key_function_sql(function: str = "mdm_name_block") -> str:
    """``CREATE FUNCTION`` of :func:`block_key` in PL/pgSQL (not inlined, so an index can use it)."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    steps = "\n".join(
        f"    s := regexp_replace(s, {literal(pattern)}, {literal(replacement)}, 'g');"
        for pattern, replacement in STEPS
    )
    return f"""
CREATE OR REPLACE FUNCTION {function}(raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $fn$
DECLARE
    s text := lower(normalize(raw, NFKC));
    whole text;
BEGIN
    IF btrim(raw) = '' THEN
        RETURN '';
    END IF;
    whole := regexp_replace(regexp_replace(regexp_replace(s, '\\.', '', 'g'), {literal(PUNCTUATION)}, ' ', 'g'),
                            '^ +| +$', '', 'g');
{steps}
    IF s = '' THEN
        s := whole;
    END IF;
    IF s ~ {literal(CJK_START)} THEN
        RETURN left(replace(s, ' ', ''), {CJK_BLOCK});
    END IF;
    RETURN left(split_part(s, ' ', 1), {LATIN_BLOCK}) || left(split_part(s, ' ', 2), {LATIN_BLOCK});
END
$fn$;
"""
