"""Benchmark: the ingest pipeline against a naive per-record update_or_create and a plain-SQL lower bound.

Not part of the test run. It generates N customers of a believable group (Latin and Chinese
company names, a few percent near-duplicates), then measures on PostgreSQL, in one run:

1. **(c) lower bound**: the same N records by plain SQL — COPY into a temporary staging table,
   one ``INSERT … ON CONFLICT (code) DO UPDATE`` into the customer table and an ``INSERT …
   SELECT`` of their history rows (same table, indexes and columns as the pipeline writes);
   **(c+)**: the same statement also writing a source link and an outbox event per record — the
   floor of the pipeline's own writes, which bounds what (a)/(b) can reach on the machine;
   **(c0)**: those writes the way the pipeline makes them for new records — per batch of 1,000,
   one COPY each straight into the record, history, link and event tables;
2. **(b) naive baseline**: ``Customer.objects.update_or_create`` per record, history written by
   django-simple-history's signals — on the first 10,000 records, as records per second;
3. **(a) first load**: all N records through :func:`ingest_batch` (validation, links, exact and
   fuzzy matching, survivorship, history, links, outbox events), batch by batch;
4. **re-sync**: the same N records again, 10 % of them changed (the rest skipped by hash);
5. **duplicate scan**: :func:`find_duplicates` over all customers;
6. **a second source**: records without codes or tax ids, found among all customers by name.

``--csv-rss`` measures memory instead (:mod:`ingest_rss`): a 1,000,000-row CSV pulled from a
file drop through the full pipeline in a child process, its peak RSS every 100,000 records
(``--csv-read-only``: the streaming reader and the mapping only).

Usage (the database is created when missing; its name must contain "bench", since the
customer tables are truncated)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench .venv/bin/python bench/ingest.py \
        [--customers 100000] [--batch 1000] [--baseline 10000] [--crm 5000]
    DATABASE_URL=... .venv/bin/python bench/ingest.py --csv-rss [--csv-rows 1000000] [--csv-read-only]

Targets: first load ≥ 20× the naive rate and ≥ 30 % of the lower bound, re-sync of 10 %
changed ≥ 5× faster than the first load (history for the changed records only), peak RSS flat
and < 500 MB on a 1,000,000-row CSV, duplicate scan over 100,000 customers ≤ 30 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_list import configure_environment, ensure_database  # the shared bench set-up

SEED = 20240611
# fmt: off
CORES = [
    "Precision", "Global", "United", "Pacific", "Atlantic", "Northern", "Eastern", "Alpine", "Summit", "Pioneer",
    "Crown", "Delta", "Vertex", "Harbor", "Meridian", "Sterling", "Evergreen", "Horizon", "Liberty", "Phoenix",
    "Cascade", "Granite", "Orion", "Titan", "Unity", "Vanguard", "Zenith",
]
TRADES = [
    "Trading", "Logistics", "Machinery", "Components", "Electronics", "Plastics", "Textiles", "Foods", "Chemicals",
    "Metals", "Automotive", "Packaging", "Instruments", "Engineering", "Pharma", "Tools", "Materials", "Systems",
]
LEGAL = ["GmbH", "Ltd.", "Inc.", "Co., Ltd.", "AG", "S.A.", "B.V.", "LLC", ""]
CITIES = [
    "上海", "北京", "深圳", "广州", "苏州", "杭州", "南京", "天津", "成都", "武汉", "宁波", "青岛", "无锡", "厦门",
]
BRAND_CHARS = "华瑞达美恒信鑫源泰嘉宏盛兴隆丰安康富通远博创新百佳联合金银星光明德利永昌"
CN_TRADES = ["贸易", "机械", "电子", "化工", "材料", "物流", "科技", "实业", "塑料", "五金", "纺织", "食品", "精密"]
CN_LEGAL = ["有限公司", "股份有限公司", "有限责任公司"]
STREETS = ["Harbour", "Main", "Station", "Market", "Park", "Mill", "River", "Church", "Bridge", "King"]
# fmt: on


def customer_values(n: int, rng: random.Random, surnames: list[str]) -> dict[str, Any]:
    if rng.random() < 0.3:
        name = rng.choice(CITIES) + "".join(rng.sample(BRAND_CHARS, 2)) + rng.choice(CN_TRADES) + rng.choice(CN_LEGAL)
        address = f"{rng.choice(CITIES)}市{rng.randint(1, 999)}号"
        country = "CN"
    else:
        parts = [rng.choice(surnames), rng.choice(CORES), rng.choice(TRADES), rng.choice(LEGAL)]
        name = " ".join(p for p in parts if p)
        address = f"{rng.randint(1, 300)} {rng.choice(STREETS)} Street"
        country = rng.choice(("DE", "US", "GB", "FR", "NL"))
    return {
        "code": f"C{n:07d}",
        "name": name,
        "tax_id": f"T{n:09d}",
        "email": f"buyer{n}@example.com",
        "country": country,
        "address": address,
        "credit_rating": rng.choice(("AAA", "AA", "A", "BBB")),
        "credit_limit": f"{rng.randint(1, 500) * 1000}.00",
        "owner_org": rng.choice(("BC1", "BC2")),
    }


def generate(count: int) -> list[dict[str, Any]]:
    """``count`` customers; 3 % are near-duplicates of an earlier one (a typo, a different legal form)."""
    from faker import Faker

    rng = random.Random(SEED)
    faker = Faker("en_US")
    faker.seed_instance(SEED)
    surnames = sorted({faker.last_name() for _ in range(20_000)})
    rows = []
    for n in range(count):
        values = customer_values(n, rng, surnames)
        if rows and rng.random() < 0.03:
            original = rng.choice(rows)
            values["name"] = original["name"].replace("Ltd.", "Limited").replace("有限公司", "公司") + " "
            values["address"] = original["address"]
        rows.append(values)
    return rows


def prepare() -> Any:
    from django.core.management import call_command
    from django.db import connection

    from masterdata.models import (
        ChangeEvent,
        Conflict,
        Customer,
        DuplicateSuspect,
        OrgUnit,
        OrgUnitType,
        SourceDomain,
        SourceLink,
        SourceSystem,
    )
    from masterdata.services import orgtree

    call_command("migrate", verbosity=0)
    models = (Customer, Customer.history.model, SourceLink, ChangeEvent, Conflict, DuplicateSuspect, SourceDomain)
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    group, _ = OrgUnit.objects.get_or_create(
        code="BGRP", defaults={"name": "Bench Group", "unit_type": OrgUnitType.GROUP}
    )
    for code in ("BC1", "BC2"):
        OrgUnit.objects.get_or_create(
            code=code, defaults={"name": f"Bench {code}", "unit_type": OrgUnitType.COMPANY, "parent": group}
        )
    orgtree.rebuild_closure()
    erp, _ = SourceSystem.objects.get_or_create(code="bench-erp", defaults={"name": "Bench ERP", "kind": "erp"})
    SourceDomain.objects.create(source=erp, domain="customer", trust_rank=80)
    return erp


def crm_source() -> Any:
    """A second source whose records carry neither the ERP's codes nor tax ids: found by name."""
    from masterdata.models import SourceDomain, SourceSystem

    crm, _ = SourceSystem.objects.get_or_create(code="bench-crm", defaults={"name": "Bench CRM", "kind": "crm"})
    SourceDomain.objects.get_or_create(source=crm, domain="customer", defaults={"trust_rank": 60})
    return crm


def freeze_input() -> None:
    """Put the records the harness holds out of the cyclic garbage collector's reach.

    The benchmark keeps all its input in memory (100,000 records, twice), where a worker pulling
    page by page holds one page: every full collection would walk them, and in one run four such
    collections took 0.7 s of the 9 s re-sync. Frozen, they cost every phase the same nothing.
    """
    gc.collect()
    gc.freeze()


def vacuum() -> None:
    from django.db import connection

    from masterdata.models import ChangeEvent, Customer, SourceLink

    with connection.cursor() as cursor:
        for model in (Customer, Customer.history.model, SourceLink, ChangeEvent):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def naive_rate(rows: list[dict[str, Any]], *, one_transaction: bool) -> float:
    """Records per second of ``update_or_create`` one by one, history written by simple-history's signal.

    ``one_transaction``: all inside one transaction (rolled back); otherwise each record commits
    on its own, as a loop in a task does. The rows are removed afterwards.
    """
    from django.db import transaction

    from masterdata.models import Customer, OrgUnit

    units = dict(OrgUnit.objects.values_list("code", "pk"))

    def load() -> float:
        started = time.perf_counter()
        for values in rows:
            defaults = {k: v for k, v in values.items() if k not in ("code", "owner_org")}
            defaults["owner_org_id"] = units[values["owner_org"]]
            Customer.objects.update_or_create(code=f"NAIVE-{values['code']}", defaults=defaults)
        return time.perf_counter() - started

    if one_transaction:
        with transaction.atomic():
            elapsed = load()
            transaction.set_rollback(True)
    else:
        elapsed = load()
        Customer.history.filter(code__startswith="NAIVE-").delete()
        Customer.objects.filter(code__startswith="NAIVE-").delete()
    return len(rows) / elapsed


#: The customer columns the pipeline fills from a source record, in the staging table's order.
STAGED = ("code", "name", "tax_id", "email", "country", "address", "credit_rating", "credit_limit", "owner_org_id")
UPSERTED = """
WITH upserted AS (
    INSERT INTO masterdata_customer AS c (
        code, status, version, created_at, updated_at, attributes, provenance, locked_fields, name, tax_id,
        credit_rating, credit_limit, currency, country, address, phone, email, last_transaction_date,
        merged_into_id, owner_org_id
    )
    SELECT code, 'active', 1, %(at)s, %(at)s, '{}', %(provenance)s, '[]', name, tax_id, credit_rating,
           credit_limit, '', country, address, '', email, NULL, NULL, owner_org_id
    FROM bench_staging
    ON CONFLICT (code) DO UPDATE SET
        version = c.version + 1, updated_at = EXCLUDED.updated_at, provenance = EXCLUDED.provenance,
        name = EXCLUDED.name, tax_id = EXCLUDED.tax_id, email = EXCLUDED.email, country = EXCLUDED.country,
        address = EXCLUDED.address, credit_rating = EXCLUDED.credit_rating, credit_limit = EXCLUDED.credit_limit,
        owner_org_id = EXCLUDED.owner_org_id
    RETURNING c.*, (xmax = 0) AS inserted
)"""
HISTORY = """
INSERT INTO masterdata_historicalcustomer (
    id, code, status, version, created_at, updated_at, attributes, provenance, locked_fields, name, tax_id,
    credit_rating, credit_limit, currency, country, address, phone, email, last_transaction_date, merged_into_id,
    owner_org_id, history_date, history_change_reason, history_type, history_user_id, history_source_id
)
SELECT id, code, status, version, created_at, updated_at, attributes, provenance, locked_fields, name, tax_id,
       credit_rating, credit_limit, currency, country, address, phone, email, last_transaction_date, merged_into_id,
       owner_org_id, %(at)s, %(reason)s, CASE WHEN inserted THEN '+' ELSE '~' END, NULL, %(source)s
FROM upserted
"""
UPSERT = UPSERTED + HISTORY
#: (c+): the same statement, writing also what the issue asks of every sync besides the records and
#: their history: a source link per record (payload and its hash) and an outbox event per change.
LINKS_AND_EVENTS = """, links AS (
    INSERT INTO masterdata_sourcelink AS l (
        source_id, domain, source_key, golden_id, status, last_payload, payload_hash, last_seen_at,
        last_pushed_version, created_at, updated_at, source_etag, source_values
    )
    SELECT %(source)s, 'customer', u.code, u.id, 'active', s.payload,
           encode(sha256(convert_to(s.payload::text, 'UTF8')), 'hex'), %(at)s, NULL, %(at)s, %(at)s, '', '{}'
    FROM upserted u JOIN bench_staging s USING (code)
    ON CONFLICT (source_id, domain, source_key) DO UPDATE SET
        golden_id = EXCLUDED.golden_id, last_payload = EXCLUDED.last_payload, payload_hash = EXCLUDED.payload_hash,
        last_seen_at = EXCLUDED.last_seen_at, updated_at = EXCLUDED.updated_at
), events AS (
    INSERT INTO masterdata_changeevent (
        domain, golden_id, version, kind, changed_fields, occurred_at, origin_source_id, user_id, owner_org_id
    )
    SELECT 'customer', id, version, CASE WHEN inserted THEN 'created' ELSE 'updated' END, %(fields)s, %(at)s,
           %(source)s, NULL, owner_org_id
    FROM upserted
)"""


def first_provenance(source: Any, at: Any) -> str:
    """The provenance document of a new record: every staged field from ``source``, by its first value."""
    entry = {"source": source.code, "user": None, "at": at.isoformat(), "rule": "first_value"}
    return json.dumps(dict.fromkeys((*STAGED[:-1], "owner_org"), entry))


#: The fields the outbox event of a new record announces.
ANNOUNCED = json.dumps(sorted({*STAGED[:-1], "owner_org", "status"}))


def lower_bound_rate(source: Any, rows: list[dict[str, Any]], *, links_and_events: bool = False) -> float:
    """(c) Records per second of plain SQL: COPY into a staging table, INSERT … ON CONFLICT, a history insert.

    The same customer table as the pipeline writes (its unique code, btree and trigram indexes,
    checks and foreign keys), the same history table, the same columns filled (provenance
    included, as the pipeline's JSON for a new record), in one committed transaction. No
    validation, matching, links or events: the floor any sync of these records pays.

    ``links_and_events`` (c+): the same statement also writes a source link per record (its
    payload, hashed by the database) and an outbox event per record, as the issue asks of the
    pipeline; still no validation, matching or survivorship. It is the floor of the pipeline's
    own writes, and so bounds what (a)/(b) can reach on this machine.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from masterdata.models import OrgUnit

    units = dict(OrgUnit.objects.values_list("code", "pk"))
    at = timezone.now()
    provenance = first_provenance(source, at)
    params = {"at": at, "provenance": provenance, "reason": "bench lower bound", "source": source.pk}
    statement, staged, payload = UPSERT, ", ".join(STAGED), ""
    if links_and_events:
        params["fields"] = ANNOUNCED
        statement = UPSERTED + LINKS_AND_EVENTS + HISTORY
        staged, payload = f"{staged}, payload", ", payload jsonb"
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_staging (code text, name text, tax_id text, email text, country text,"
            f" address text, credit_rating text, credit_limit numeric, owner_org_id bigint{payload}) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY bench_staging ({staged}) FROM STDIN") as copy:
            for v in rows:
                row = [v["code"], v["name"], v["tax_id"], v["email"], v["country"], v["address"],
                       v["credit_rating"], v["credit_limit"], units[v["owner_org"]]]  # fmt: skip
                if links_and_events:
                    row.append(json.dumps(v, ensure_ascii=False))
                copy.write_row(row)
        cursor.execute(statement, params)
    return len(rows) / (time.perf_counter() - started)


def copy_floor_rate(source: Any, rows: list[dict[str, Any]], batch: int) -> float:
    """(c0) Records per second of the pipeline's writes alone, the way it writes new records.

    Per batch, in its own transaction: ids from the customer sequence, then one COPY each of the
    records, their history rows, their source links (payload and hash) and their outbox events,
    straight into the tables (no staging table, no ``ON CONFLICT``). That is how the pipeline
    stores a new record; what it adds is reading (links, exact and fuzzy matches, …) and its
    Python work. So (c0)/(b) bounds (a)/(b) on this machine.
    """
    import hashlib

    from django.db import connection, transaction
    from django.utils import timezone

    from masterdata.models import ChangeEvent, Customer, OrgUnit, SourceLink

    units = dict(OrgUnit.objects.values_list("code", "pk"))
    at = timezone.now()
    provenance = first_provenance(source, at)
    history = {"history_date": at, "history_change_reason": "bench floor", "history_type": "+"}
    history |= {"history_user_id": None, "history_source_id": source.pk}

    def copy(cursor: Any, model: Any, dicts: list[dict[str, Any]]) -> None:
        columns = ", ".join(dicts[0])
        with cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
            for values in dicts:
                copy.write_row(list(values.values()))

    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Customer._meta.db_table, len(chunk)],
            )
            records = [
                {"id": pk, "code": v["code"], "status": "active", "version": 1, "created_at": at, "updated_at": at,
                 "attributes": "{}", "provenance": provenance, "locked_fields": "[]", "name": v["name"],
                 "tax_id": v["tax_id"], "credit_rating": v["credit_rating"], "credit_limit": v["credit_limit"],
                 "currency": "", "country": v["country"], "address": v["address"], "phone": "", "email": v["email"],
                 "last_transaction_date": None, "merged_into_id": None, "owner_org_id": units[v["owner_org"]]}
                for (pk,), v in zip(cursor.fetchall(), chunk, strict=True)
            ]  # fmt: skip
            copy(cursor, Customer, records)
            copy(cursor, Customer.history.model, [record | history for record in records])
            links = []
            for record, values in zip(records, chunk, strict=True):
                payload = json.dumps(values, ensure_ascii=False)
                links.append(
                    {"source_id": source.pk, "domain": "customer", "source_key": values["code"],
                     "golden_id": record["id"], "status": "active", "last_payload": payload,
                     "payload_hash": hashlib.sha256(payload.encode()).hexdigest(), "last_seen_at": at,
                     "last_pushed_version": None, "created_at": at, "updated_at": at, "source_etag": "",
                     "source_values": "{}"}
                )  # fmt: skip
            copy(cursor, SourceLink, links)
            events = [
                {"domain": "customer", "golden_id": record["id"], "version": 1, "kind": "created",
                 "changed_fields": ANNOUNCED, "occurred_at": at, "origin_source_id": source.pk, "user_id": None,
                 "owner_org_id": record["owner_org_id"]}
                for record in records
            ]  # fmt: skip
            copy(cursor, ChangeEvent, events)
    return len(rows) / (time.perf_counter() - started)


def cpu_seconds() -> tuple[float, float | None]:
    """CPU seconds used so far by this process and by its database backend (None when not on this host).

    Reported beside the wall times: on a machine shared with other jobs the wall time of a phase
    also counts the time spent waiting for a core, and CPU time shows the work itself.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        backend = None
    return time.process_time(), backend


def cpu_used(before: tuple[float, float | None], after: tuple[float, float | None]) -> str:
    own = after[0] - before[0]
    if before[1] is None or after[1] is None:
        return f"CPU {own:.1f} s (process)"
    return f"CPU {own:.1f} s process + {after[1] - before[1]:.1f} s database"


def run_batches(source: Any, rows: list[dict[str, Any]], batch: int, payload_of) -> tuple[float, dict[str, int]]:
    from masterdata.registry import registry
    from masterdata.services.ingest import IncomingRecord, Rules, ingest_batch

    domain = registry.get("customer")
    totals: dict[str, int] = {}
    started = time.perf_counter()
    rules = Rules.load(domain)  # as a pull does: read once, applied to every page
    for start in range(0, len(rows), batch):
        records = [
            IncomingRecord(source_key=values["code"], values=values, payload=payload_of(values))
            for values in rows[start : start + batch]
        ]
        result = ingest_batch(source, domain, records, reason="bench load", rules=rules)
        for outcome, count in result.counts.items():
            totals[outcome] = totals.get(outcome, 0) + count
    return time.perf_counter() - started, {k: v for k, v in totals.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=10_000, help="records timed for the naive rate")
    parser.add_argument("--crm", type=int, default=5000, help="records of a second source matched by name only")
    parser.add_argument(
        "--csv-rss", action="store_true", help="instead: peak memory of a pull of a large CSV (bench/ingest_rss.py)"
    )
    parser.add_argument("--csv-rows", type=int, default=1_000_000, help="rows of the CSV for --csv-rss")
    parser.add_argument(
        "--csv-read-only", action="store_true", help="with --csv-rss: the streaming reader and mapping only"
    )
    args = parser.parse_args()
    if args.csv_rss:
        import ingest_rss

        configure_environment()
        ensure_database(os.environ["DATABASE_URL"])
        ingest_rss.main(args.csv_rows, "read" if args.csv_read_only else "pull")
        return

    url = configure_environment()
    ensure_database(url)
    import django

    django.setup()
    from masterdata.registry import registry
    from masterdata.services.matching import find_duplicates

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    source = prepare()
    rows = generate(args.customers)
    freeze_input()
    print(f"{args.customers:,} customers, batches of {args.batch}")

    floor = lower_bound_rate(source, rows)
    print(f"(c) lower bound, COPY + INSERT … ON CONFLICT + history insert: {floor:9,.0f} records/s")
    source = prepare()
    floor_all = lower_bound_rate(source, rows, links_and_events=True)
    print(f"(c+) the same, also writing a source link and an outbox event per record: {floor_all:9,.0f} records/s")
    source = prepare()
    floor_copy = copy_floor_rate(source, rows, args.batch)
    print(f"(c0) the pipeline's writes alone, COPY straight into the four tables: {floor_copy:9,.0f} records/s")
    source = prepare()  # the pipeline starts from the same empty tables

    sample = rows[: args.baseline]
    naive = naive_rate(sample, one_transaction=False)
    naive_tx = naive_rate(sample, one_transaction=True)
    print(f"(b) naive update_or_create + history signal, a commit per record: {naive:7,.0f} records/s")
    print(f"(b) naive update_or_create + history signal, one transaction:     {naive_tx:7,.0f} records/s")

    cpu_before = cpu_seconds()
    load_seconds, load_counts = run_batches(source, rows, args.batch, lambda v: dict(v))
    load_cpu = (cpu_before, cpu_seconds())
    load_rate = args.customers / load_seconds
    print(f"(a) first load:   {load_seconds:7.1f} s  {load_rate:9,.0f} records/s  {load_counts}")
    print(f"  {cpu_used(*load_cpu)}")
    vacuum()

    rng = random.Random(SEED + 1)
    changed = set(rng.sample(range(args.customers), args.customers // 10))
    resync_rows = [
        {**values, "credit_limit": f"{int(float(values['credit_limit'])) + 1000}.00"} if n in changed else values
        for n, values in enumerate(rows)
    ]
    freeze_input()
    cpu_before = cpu_seconds()
    resync_seconds, resync_counts = run_batches(source, resync_rows, args.batch, lambda v: dict(v))
    resync_cpu = (cpu_before, cpu_seconds())
    print(f"re-sync 10 %: {resync_seconds:7.1f} s  {args.customers / resync_seconds:9,.0f} records/s  {resync_counts}")
    print(f"  {cpu_used(*resync_cpu)}")
    from masterdata.models import Customer

    updates = Customer.history.filter(history_type="~").count()
    print(f"  history rows written by the re-sync: {updates:,} (records changed: {len(changed):,})")

    started = time.perf_counter()
    scan = find_duplicates(registry.get("customer"))
    scan_seconds = time.perf_counter() - started
    print(f"duplicate scan: {scan_seconds:5.1f} s, {scan.compared:,} comparisons, {len(scan.pairs):,} suspects")

    crm_rows = [
        {"code": f"CRM-{values['code']}", "name": values["name"].upper(), "address": values["address"]}
        for values in rows[: args.crm]
    ]
    crm = crm_source()
    crm_seconds, crm_counts = run_batches(crm, crm_rows, args.batch, lambda v: dict(v))
    print(f"CRM onboarding (fuzzy against all): {crm_seconds:5.1f} s for {args.crm:,}  {crm_counts}")

    print("\nratios")
    print(f"  (a) first load vs (b) naive:     {load_rate / naive:6.1f}×  (target ≥ 20×)")
    print(f"  (a) first load vs (c) lower bound: {100 * load_rate / floor:5.1f} %  (target ≥ 30 %)")
    print(f"  first load vs naive in one transaction: {load_rate / naive_tx:6.1f}×")
    print(f"  (a) first load vs (c+) plain SQL of the same writes: {100 * load_rate / floor_all:5.1f} %")
    ceiling = max(floor_all, floor_copy)
    print(
        f"  ceiling of (a)/(b) on this machine, the faster of (c+) and (c0) / (b): {ceiling / naive:6.1f}×"
        f"  — ×20 needs (a) at {100 * 20 * naive / ceiling:.0f} % of it"
    )
    print(f"  re-sync vs first load:   {load_seconds / resync_seconds:6.1f}×  (target ≥ 5×)")
    phases = (load_cpu, resync_cpu)
    if all(None not in (*before, *after) for before, after in phases):
        load_spent, resync_spent = (sum(after) - sum(before) for before, after in phases)
        print(f"  re-sync vs first load in CPU time (process + database): {load_spent / resync_spent:6.1f}×")
    print(f"  duplicate scan:          {scan_seconds:6.1f} s (target ≤ 30 s)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
