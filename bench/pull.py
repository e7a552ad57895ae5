"""Benchmark: a pull from a source that takes time to answer, with and without reading one page ahead.

Not part of the test run. A CRM (the REST fake of the tests, the seed's ``/api/customers`` with
pages of 1,000, in a process of its own, mapped as ``examples/integration.yaml`` maps it) holds N
customers and waits ``--latency-ms`` before every answer, as an ERP or CRM across a network does.
The same full pull through
:func:`connectors.services.pipeline.pull` (map, the whole ingest pipeline, one transaction per
page) is timed, from empty customer tables each time, in the same run:

* **baseline**: the page loop as it was, fetch ▸ ingest ▸ fetch ▸ ingest (read-ahead switched off);
* **hub**: the next page fetched on a thread while the current one is ingested.

The two alternate ``--rounds`` times, and the medians are compared. Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench .venv/bin/python bench/pull.py \\
        [--records 20000] [--page-size 1000] [--latency-ms 500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_list import PROJECT_ROOT, configure_environment, ensure_database  # the shared bench set-up

EXAMPLE_CONFIG = PROJECT_ROOT / "examples" / "integration.yaml"


def seed_crm() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The seed's CRM as the shipped example config wires it: connection options, fetch spec, field map."""
    import yaml

    config = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    crm = next(source for source in config["sources"] if source["code"] == "crm")
    mapping = next(mapping for mapping in crm["mappings"] if mapping["domain"] == "customer")
    return crm["connection"].get("options", {}), mapping["fetch"], mapping["fields"]


def serve(pipe: Any, records: int, page_size: int, latency: float) -> None:
    """The CRM, a system of its own: a process of its own, answering until it is terminated."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.connectors.fakes import AuthPolicy, CrmFake, data

    fake = CrmFake(data.crm_customers(records), auth=AuthPolicy(open=True), max_page_size=page_size)
    with fake:
        if latency:
            fake.slow(latency, times=10**9)  # every request waits: a network and service round trip
        pipe.send(fake.base_url)
        pipe.recv()  # told to stop


def prepare(base_url: str, page_size: int) -> Any:
    """Empty customer tables and a CRM source wired to the fake, as the tests wire it."""
    from django.db import connection

    from connectors.models import Connection, Mapping, SyncFailure, SyncRun, SyncState
    from masterdata.models import (
        ChangeEvent,
        Conflict,
        Customer,
        DuplicateSuspect,
        SourceDomain,
        SourceLink,
        SourceSystem,
    )

    models = (Customer, Customer.history.model, SourceLink, ChangeEvent, Conflict, DuplicateSuspect)
    models += (SyncRun, SyncState, SyncFailure, Mapping, Connection, SourceDomain, SourceSystem)
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    options, fetch, fields = seed_crm()
    source = SourceSystem.objects.create(code="bench-crm", name="Bench CRM", kind="crm")
    SourceDomain.objects.create(source=source, domain="customer", trust_rank=60)
    Connection.objects.create(
        source=source, protocol="rest", base_url=base_url, auth_type="none", page_size=page_size,
        timeout_seconds=60, options={**options, "max_retries": 0},
    )  # fmt: skip
    Mapping.objects.create(source=source, domain="customer", fetch_spec=fetch, field_map=fields)
    return source


def timed_pull(base_url: str, page_size: int, *, ahead: bool) -> tuple[float, Any]:
    from connectors.services import pipeline
    from connectors.services.read_ahead import read_ahead

    source = prepare(base_url, page_size)
    pipeline.read_ahead = read_ahead if ahead else (lambda pages: pages)  # the baseline: the old page loop
    try:
        started = time.perf_counter()
        run = pipeline.pull(source, "customer", full=True).run
        return time.perf_counter() - started, run
    finally:
        pipeline.read_ahead = read_ahead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=500, help="the source's wait before every answer")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    url = configure_environment()
    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(theirs, args.records, args.page_size, args.latency_ms / 1000), daemon=True
    )
    server.start()
    base_url = ours.recv()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pages = -(-args.records // args.page_size)
    print(f"{args.records:,} customers, {pages} pages of {args.page_size:,}; {args.latency_ms:g} ms wait a page")
    times: dict[str, list[float]] = {"baseline": [], "hub": []}
    try:
        for number in range(args.rounds):
            order = ("baseline", "hub") if number % 2 == 0 else ("hub", "baseline")
            for side in order:
                seconds, run = timed_pull(base_url, args.page_size, ahead=side == "hub")
                if (run.status, run.created, run.pages) != ("succeeded", args.records, pages):
                    sys.exit(f"{side}: the pull did not take every record: {run.status}, {run.created} created")
                times[side].append(seconds)
                print(f"  {side:8s} {seconds:6.1f} s  {args.records / seconds:7,.0f} records/s")
    finally:
        ours.send("stop")
        server.join(timeout=10)
    baseline, hub = (statistics.median(times[side]) for side in ("baseline", "hub"))
    waiting = pages * args.latency_ms / 1000
    print(f"\nbaseline (fetch, then ingest): {baseline:6.1f} s  {args.records / baseline:7,.0f} records/s")
    print(f"hub (one page read ahead):     {hub:6.1f} s  {args.records / hub:7,.0f} records/s")
    print(f"hub vs baseline: {baseline / hub:4.2f}×  (the source alone waits {waiting:.1f} s in all)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
