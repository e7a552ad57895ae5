"""Matching: is a source record one the hub already knows, and which golden records are duplicates?

Exact first: the identity keys of the registry (``Domain.match_keys``: code, tax id, e-mail,
employee number…), one query per key for a whole batch. Then approximate: the domain's
``fuzzy_fields`` (name, address…) are normalised (width, case, punctuation, legal forms
such as "Co., Ltd." or 有限公司 removed) and compared with rapidfuzz, but only within
*blocks* of records sharing a short key, so a batch or a scan never compares everything with
everything:

* in the ingest pipeline the block is the start of the first fuzzy field's *core name*
  (:mod:`masterdata.services.names`: without region, legal form and article; two CJK
  characters, or four letters of each of the first two words), which an expression index on
  the database function of the same key serves, so a batch reads only its own small blocks,
  not every company of Shanghai;
* the duplicate scan (:func:`find_duplicates`) blocks on the normalised text: the first four
  letters of each of the first two words, or the first two and the next two CJK characters
  (so 上海华东贸易 and 华东贸易（上海） still meet), and on the core name's block.

Names are scored on their core names (上海华为技术有限公司 and 华为技术有限公司 are the same
company), except when both name a region and the regions differ (北京华为 and 上海华为 are
not): then on the normalised full names, where the different city counts against them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from rapidfuzz import fuzz, process

from masterdata.crypto import blind_index, normalise_for_index
from masterdata.fields import INDEX_LENGTH
from masterdata.models import DuplicateSuspect, GoldenStatus, SourceLink, SourceSystem, SuspectStatus
from masterdata.registry import Domain
from masterdata.services import access, bulk_sql, names
from masterdata.services.golden import OutOfScope

#: Legal forms and filler words that say nothing about which company a name means.
# fmt: off
LATIN_NOISE = frozenset({
    "co", "company", "corp", "corporation", "inc", "incorporated", "ltd", "limited", "llc", "llp", "plc",
    "gmbh", "mbh", "ag", "kg", "ohg", "se", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as",
    "kk", "pte", "pty", "the", "and", "und", "et", "of",
})
# fmt: on
CJK_NOISE = ("股份有限公司", "有限责任公司", "有限公司", "责任公司", "股份公司", "公司")
#: Blocks larger than this are too common to tell records apart (a "stop block"): not compared.
MAX_BLOCK = 2000
#: Weight of the first fuzzy field (the name); the other fields share the rest.
FIRST_FIELD_WEIGHT = 0.7
_WORDS = re.compile(r"[^\W_]+")


def auto_link_score() -> float:
    return float(getattr(settings, "MDM_AUTO_LINK_SCORE", 95))


def suspect_score() -> float:
    return float(getattr(settings, "MDM_DUPLICATE_SUSPECT_SCORE", 85))


# --- normalisation and scores -------------------------------------------------------------------
def normalise(text: Any) -> str:
    """Lower-case words of ``text`` without punctuation, legal forms or filler words."""
    if text in (None, ""):
        return ""
    return _normalised(text) if type(text) is str else _normalise(text)


def _normalise(text: Any) -> str:
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    for noise in CJK_NOISE:
        folded = folded.replace(noise, " ")
    words = _WORDS.findall(folded)
    meaningful = [w for w in words if w not in LATIN_NOISE]
    return " ".join(meaningful or words)


@lru_cache(maxsize=65_536)
def _normalised(text: str) -> str:
    """:func:`normalise` remembered: each batch reads the names of its blocks again (a block holds
    records of earlier batches), so the same stored names come back batch after batch. Bounded,
    so memory stays flat however long the load."""
    return _normalise(text)


@lru_cache(maxsize=4096)
def is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


def blocking_keys(normalised: str) -> set[str]:
    """Keys of the duplicate scan: records are compared only with records sharing one."""
    compact = normalised.replace(" ", "")
    if not compact:
        return set()
    if is_cjk(compact[0]):
        return {compact[i : i + 2] for i in (0, 2) if len(compact) >= i + 2} or {compact}
    return {word[:4] for word in normalised.split()[:2]}


#: The database function of :func:`names.block_key` (migration 0010), indexed per domain table.
BLOCK_FUNCTION = "mdm_name_block"


def block_keys_of(texts: list[str]) -> list[str]:
    """The ingest block of each text (:func:`names.block_key`, which the database function of
    the index computes alike: a test holds them to it)."""
    return [names.block_key(text) for text in texts]


def comparable(text: Any) -> str:
    """What the name score compares: the core name, or the normalised name if no core is left."""
    if text in (None, ""):
        return ""
    return names.standardise(str(text)).core or normalise(text)


def weights(fields: tuple[str, ...]) -> dict[str, float]:
    if len(fields) == 1:
        return {fields[0]: 1.0}
    rest = (1 - FIRST_FIELD_WEIGHT) / (len(fields) - 1)
    return {name: FIRST_FIELD_WEIGHT if i == 0 else rest for i, name in enumerate(fields)}


def similarity(
    a: dict[str, str], b: dict[str, str], fields: tuple[str, ...], first_score: float | None = None
) -> tuple[float, dict[str, float]]:
    """Weighted score 0–100 over the normalised fields both records have, and each field's score
    (``first_score``: the name's score, when the caller compared core names already)."""
    scores = {name: fuzz.token_sort_ratio(a[name], b[name]) for name in fields if a.get(name) and b.get(name)}
    if first_score is not None and fields[0] in scores:
        scores[fields[0]] = first_score
    if fields[0] not in scores:
        return 0.0, {}
    weight = weights(fields)
    total = sum(weight[name] for name in scores)
    combined = sum(weight[name] * score for name, score in scores.items()) / total
    return round(combined, 2), {name: round(score, 2) for name, score in scores.items()}


def first_field_cutoff(fields: tuple[str, ...], threshold: float) -> float:
    """The lowest name score that can still reach ``threshold`` with perfect other fields."""
    weight = weights(fields)[fields[0]]
    return max(0.0, (threshold - (1 - weight) * 100) / weight)


# --- ingest: exact and fuzzy candidates -----------------------------------------------------------
def sensitive_keys(domain: Domain) -> frozenset[str]:
    """Identity keys that are sensitive fields: their column holds ciphertext, matched by blind index."""
    return frozenset(domain.match_keys) & frozenset(domain.sensitive_fields)


def key_form(value: Any) -> str:
    """A sensitive key's value as its blind index compares it (blanks and letter case do not count)."""
    return normalise_for_index(str(value))


def identity_value(key: str, value: Any, sensitive: frozenset[str]) -> Any | None:
    """``value`` of identity key ``key`` as exact matching compares it; None when it identifies nothing."""
    if value in (None, ""):
        return None
    if key in sensitive:
        return key_form(value) or None
    return value


def exact_matches(domain: Domain, offered: dict[int, dict[str, Any]]) -> dict[int, tuple[int, str]]:
    """``{item: (golden id, key)}`` for items whose identity keys name an existing record.

    ``offered`` maps an item number to its values. Keys are tried in registry order (code
    before tax id before e-mail); when several records share a value the oldest wins. Merged
    records are never matched (their survivors are). A sensitive key (a bank account) is
    found through its blind index and compared in :func:`key_form`, as its exact lookups are.
    """
    found: dict[int, tuple[int, str]] = {}
    manager = domain.model_class._base_manager.exclude(status=GoldenStatus.MERGED)
    if bulk_sql.fast():
        return _exact_in_one_query(domain, manager, offered)
    hidden = sensitive_keys(domain)
    for key in domain.match_keys:
        wanted = {
            item: values[key]
            for item, values in offered.items()
            if item not in found and values.get(key) not in (None, "")
        }
        if key in hidden:
            wanted = {item: key_form(value) for item, value in wanted.items() if key_form(value)}
        if not wanted:
            continue
        owners: dict[Any, int] = {}
        rows = bulk_sql.among(manager, key, set(wanted.values())).values_list(key, "pk").order_by("pk")
        for value, pk in rows:
            owners.setdefault(key_form(value) if key in hidden else value, pk)
        for item, value in wanted.items():
            if value in owners:
                found[item] = (owners[value], key)
    return found


def _exact_in_one_query(
    domain: Domain, manager: models.QuerySet, offered: dict[int, dict[str, Any]]
) -> dict[int, tuple[int, str]]:
    """:func:`exact_matches` with one query for every key (``key = ANY(…) OR …``), then key by key as there."""
    keys = domain.match_keys
    hidden = sensitive_keys(domain)
    offered_as = offered
    if hidden:  # sensitive keys compared in their key form (blank when nothing is left of the value)
        offered_as = {
            item: {**values, **{key: key_form(values[key]) for key in hidden if values.get(key) not in (None, "")}}
            for item, values in offered.items()
        }
    wanted = {key: {values[key] for values in offered_as.values() if values.get(key) not in (None, "")} for key in keys}
    wanted = {key: values for key, values in wanted.items() if values}
    found: dict[int, tuple[int, str]] = {}
    if not wanted:
        return found
    opts = domain.model_class._meta
    quote = connection.ops.quote_name
    conditions, params = [], []
    for key, values in wanted.items():
        f = opts.get_field(key)
        column = f"{quote(opts.db_table)}.{quote(f.column)}"
        if key in hidden:  # the column's blind index, served by its expression index
            conditions.append(f"LEFT({column}, {INDEX_LENGTH}) = ANY(%s::text[])")
            params.append(sorted({blind_index(value) for value in values}))
            continue
        kind = (f.target_field if f.is_relation else f).db_type(connection)
        kind = "text" if kind.startswith("varchar") else kind  # a cast to varchar(n) would cut longer values
        conditions.append(f"{column} = ANY(%s::{kind}[])")
        params.append(list(values))
    rows = list(manager.extra(where=[" OR ".join(conditions)], params=params).values_list("pk", *wanted).order_by("pk"))
    for position, key in enumerate(wanted, start=1):
        owners: dict[Any, int] = {}
        if key in hidden:
            for row in rows:
                owners.setdefault(key_form(row[position]), row[0])
        else:
            for row in rows:
                owners.setdefault(row[position], row[0])
        for item, values in offered_as.items():
            value = values.get(key)
            if item not in found and value not in (None, "") and value in owners:
                found[item] = (owners[value], key)
    return found


@dataclass(frozen=True)
class Candidate:
    golden_id: int
    score: float
    reasons: dict[str, Any]
    owner_org_id: int | None = None


def fuzzy_candidates(
    domain: Domain, source: SourceSystem, offered: dict[int, dict[str, Any]], threshold: float
) -> dict[int, list[Candidate]]:
    """``{item: candidates scoring ≥ threshold, best first}`` among records of the same block.

    The block of a name is the start of its core name (:func:`block_keys_of`). Two queries on
    the table for the whole batch: the names of the records in the batch's blocks (an index
    lookup per block), then the other fuzzy fields of those whose name alone can still reach
    ``threshold``. Records the source already links to are left out: a source knows its own
    records apart, and duplicates inside one source are the duplicate scan's business, not a
    reason to link a second source record to the same golden record.
    """
    fields = domain.fuzzy_fields
    first = fields[0]
    wanted = {item: str(values.get(first)) for item, values in offered.items() if str(values.get(first) or "").strip()}
    if not wanted:
        return {}
    keys = dict(zip(wanted, block_keys_of(list(wanted.values())), strict=True))
    blocks = read_blocks(domain, source, {key for key in keys.values() if key})
    cutoff = first_field_cutoff(fields, threshold)
    hits: dict[int, list[tuple[int, int | None, str, float]]] = {}
    for item, text in wanted.items():
        block = blocks.get(keys[item])
        mine = comparable(text)
        if block is None or not mine:
            continue
        found = process.extract(mine, block.texts, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, limit=None)
        kept = []
        for other, score, index in found:
            score = first_score(text, block.raw[index], score)
            if score >= cutoff:
                kept.append((block.ids[index], block.owners[index], other, score))
        if kept:
            hits[item] = kept
    others = _other_fields(domain, {pk for found in hits.values() for pk, _, _, _ in found})
    result: dict[int, list[Candidate]] = {}
    for item, found in hits.items():
        mine = {first: comparable(wanted[item]), **{name: normalise(offered[item].get(name)) for name in fields[1:]}}
        scored = []
        for pk, owner, other, name_score in found:
            score, reasons = similarity(mine, {first: other, **others.get(pk, {})}, fields, first_score=name_score)
            if score >= threshold:
                scored.append(Candidate(pk, score, {"fuzzy": reasons}, owner))
        if scored:
            result[item] = sorted(scored, key=lambda c: (-c.score, c.golden_id))
    return result


@dataclass
class Block:
    """The records of one block: ids, owners, stored names and their comparable texts."""

    ids: list[int] = field(default_factory=list)
    owners: list[int | None] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def read_blocks(domain: Domain, source: SourceSystem, keys: set[str]) -> dict[str, Block]:
    """The unmerged records of blocks ``keys`` not linked to ``source`` (one indexed query)."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        rows = _block_rows(domain, source, sorted(keys))
    else:  # without the database function, the block is computed here
        first = domain.fuzzy_fields[0]
        linked = SourceLink.objects.filter(source=source, domain=domain.name, golden_id=models.OuterRef("pk"))
        records = domain.model_class._base_manager.exclude(status=GoldenStatus.MERGED).exclude(models.Exists(linked))
        rows = (
            (pk, owner, name, names.block_key(name))
            for pk, owner, name in records.values_list("pk", _org_column(domain), first)
        )
    blocks: dict[str, Block] = {}
    for pk, owner, name, key in rows:
        if key not in keys:
            continue
        block = blocks.setdefault(key, Block())
        block.ids.append(pk)
        block.owners.append(owner_of(domain, owner))
        block.raw.append(name)
        block.texts.append(comparable(name))
    return blocks


#: One index lookup per block key; for each record found, its links' sources from the (domain,
#: golden id, source) index alone, without reading the links table. Neither can become a join
#: (``OFFSET 0`` fences the lateral, ``ARRAY(…)`` is a subplan per row): with the statistics of a
#: table still filling up, joins evaluated ``mdm_name_block`` on every row of the table, or
#: hashed or scanned every link of the source, for every batch.
BLOCK_ROWS = """
SELECT c.id, c.owner, c.name, k.block
FROM unnest(%s::text[]) AS k(block)
CROSS JOIN LATERAL (
    SELECT t.{pk} AS id, t.{org} AS owner, t.{name} AS name FROM {table} AS t
    WHERE {function}(t.{name}) = k.block AND t.{status} <> %s
      AND %s <> ALL (ARRAY(
        SELECT l.{link_source} FROM {links} AS l WHERE l.{link_domain} = %s AND l.{link_golden} = t.{pk}
      ))
    OFFSET 0
) AS c
ORDER BY c.id
"""


#: Fewer block keys than this keep the query's estimated cost far below PostgreSQL's JIT thresholds
#: (a real-time post of a few records): no statements to switch JIT off and on around it.
JIT_KEYS = 50


def _block_rows(domain: Domain, source: SourceSystem, keys: list[str]) -> list[tuple[int, Any, str, str]]:
    """``(pk, owner, name, block)`` of the unmerged records of blocks ``keys`` not linked to ``source``."""
    opts, links = domain.model_class._meta, SourceLink._meta
    quote = connection.ops.quote_name
    org = _org_column(domain)
    sql = BLOCK_ROWS.format(
        pk=quote(opts.pk.column),
        org=quote(opts.pk.column if org == "pk" else opts.get_field(org).column),
        name=quote(opts.get_field(domain.fuzzy_fields[0]).column),
        table=quote(opts.db_table),
        status=quote(opts.get_field("status").column),
        function=BLOCK_FUNCTION,
        links=quote(links.db_table),
        link_domain=quote(links.get_field("domain").column),
        link_golden=quote(links.get_field("golden_id").column),
        link_source=quote(links.get_field("source").column),
    )
    params = [keys, GoldenStatus.MERGED.value, source.pk, domain.name]
    with connection.cursor() as cursor:
        if len(keys) < JIT_KEYS:
            cursor.execute(sql, params)
            return cursor.fetchall()
        # The planner's cost of this query grows with the batch's keys and, while the table fills up,
        # with stale estimates: past the JIT thresholds PostgreSQL spent 30–250 ms per batch compiling
        # a query that runs in 10–60 ms. JIT is off for this statement only (the setting is restored).
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        jit = cursor.fetchone()[0]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.execute("SELECT set_config('jit', %s, true)", [jit])  # an error above rolls it back anyway
        return rows


def first_score(mine: str, other: str, core_score: float) -> float:
    """The name score of two stored names whose comparable texts scored ``core_score``: that,
    unless both name a region and not the same one; then the normalised full names decide."""
    if names.regions_conflict(names.standardise(mine), names.standardise(other)):
        return float(fuzz.token_sort_ratio(normalise(mine), normalise(other)))
    return float(core_score)


def _other_fields(domain: Domain, ids: set[int]) -> dict[int, dict[str, str]]:
    """The normalised fuzzy fields after the first of records ``ids`` (one query)."""
    rest = domain.fuzzy_fields[1:]
    if not rest or not ids:
        return {}
    rows = domain.model_class._base_manager.filter(pk__in=ids).values_list("pk", *rest)
    return {pk: {name: normalise(text) for name, text in zip(rest, texts, strict=True)} for pk, *texts in rows}


def _org_column(domain: Domain) -> str:
    if domain.org_field is None:
        return "pk"  # placeholder column, ignored below
    return "pk" if domain.org_field == "pk" else f"{domain.org_field}_id"


def owner_of(domain: Domain, owner: int | None) -> int | None:
    return owner if domain.org_field is not None else None


# --- duplicate suspects ---------------------------------------------------------------------------
def suspect(
    domain: Domain, id_one: int, id_other: int, score: float, reasons: dict[str, Any], owner_org_id: int | None
) -> DuplicateSuspect:
    """An unsaved suspect pair, stored in the order the uniqueness of a pair relies on."""
    low, high = sorted((id_one, id_other))
    return DuplicateSuspect(
        domain=domain.name, golden_id_a=low, golden_id_b=high, score=score, reasons=reasons, owner_org_id=owner_org_id
    )


def write_suspects(suspects: Iterable[DuplicateSuspect]) -> list[DuplicateSuspect]:
    """Store new pairs; a pair already known (open, merged or "not a duplicate") is left alone."""
    rows = [s for s in suspects if s.golden_id_a != s.golden_id_b]
    return DuplicateSuspect.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True) if rows else []


@dataclass
class ScanResult:
    compared: int = 0
    pairs: list[DuplicateSuspect] = field(default_factory=list)


def find_duplicates(domain: Domain, *, threshold: float | None = None, write: bool = True) -> ScanResult:
    """Scan the domain's active and inactive records for likely duplicates.

    Pairs scoring at least ``threshold`` (default ``MDM_DUPLICATE_SUSPECT_SCORE``) that are not
    already known become open :class:`DuplicateSuspect` rows (``write=False``: only reported).
    A pair once marked "not a duplicate" is never suggested again.
    """
    threshold = suspect_score() if threshold is None else threshold
    fields = domain.fuzzy_fields
    org = _org_column(domain)
    records: list[tuple[int, int | None]] = []
    texts: dict[str, list[str]] = {name: [] for name in fields}
    raw: list[str] = []
    cores: list[str] = []
    rows = domain.model_class._base_manager.exclude(status=GoldenStatus.MERGED).values_list("pk", org, *fields)
    for pk, owner, *values in rows.iterator(chunk_size=5000):
        records.append((pk, owner_of(domain, owner)))
        for name, value in zip(fields, values, strict=True):
            texts[name].append(normalise(value))
        raw.append(str(values[0] or ""))
        cores.append(comparable(values[0]))
    blocks: dict[str, list[int]] = defaultdict(list)
    for index, text in enumerate(texts[fields[0]]):
        for key in blocking_keys(text) | {names.block_key(raw[index])} - {""}:
            blocks[key].append(index)
    cutoff = first_field_cutoff(fields, threshold)
    result = ScanResult()
    seen: dict[tuple[int, int], float] = {}
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        block_cores = [cores[i] for i in members]
        for position, index in enumerate(members[:-1]):
            rest = block_cores[position + 1 :]
            result.compared += len(rest)
            hits = process.extract(cores[index], rest, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, limit=None)
            for _, score, offset in hits:
                other = members[position + 1 + offset]
                score = first_score(raw[index], raw[other], score)
                if score >= cutoff:
                    seen[(index, other) if index < other else (other, index)] = score
    known = set(DuplicateSuspect.objects.filter(domain=domain.name).values_list("golden_id_a", "golden_id_b"))
    for (i, j), name_score in seen.items():
        (id_i, owner_i), (id_j, owner_j) = records[i], records[j]
        if (min(id_i, id_j), max(id_i, id_j)) in known:
            continue
        score, reasons = similarity(
            {name: texts[name][i] for name in fields},
            {name: texts[name][j] for name in fields},
            fields,
            first_score=name_score,
        )
        if score >= threshold:
            result.pairs.append(suspect(domain, id_i, id_j, score, {"fuzzy": reasons}, owner_i or owner_j))
    if write:
        write_suspects(result.pairs)
    return result


def mark_not_duplicate(pair: DuplicateSuspect, user: Any) -> DuplicateSuspect:
    """A steward's verdict: the two records differ; the pair is never suggested again."""
    return _decide(pair, SuspectStatus.NOT_DUPLICATE, user)


def _decide(pair: DuplicateSuspect, status: str, user: Any) -> DuplicateSuspect:
    with transaction.atomic():
        pair = DuplicateSuspect.objects.select_for_update().get(pk=pair.pk)
        in_scope = user is None or pair.owner_org_id is None or access.unit_in_scope(user, pair.owner_org_id, "resolve")
        if not in_scope:
            raise OutOfScope("You may not decide on duplicates of this org unit.")
        pair.status = status
        pair.decided_at = timezone.now()
        pair.decided_by = user if getattr(user, "pk", None) is not None else None
        pair.save()
    return pair
