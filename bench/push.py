"""Benchmark: outbound push — deliveries per second of the hub against a naive synchronous push.

Not part of the test run. The same golden changes are made the same way for both sides, through
the hub's single write path (``services.golden``), in two waves: N/2 new customers, then a second
version of each. Every change must reach two local targets — a REST API (the CRM fake) and an
OData v4 service (the S/4HANA fake, which takes JSON ``$batch``) — each served by a process of
its own, as a real target is a system of its own. A delivery is one change arriving at one
target: 2 × N deliveries for the baseline, N per hub target.

1. **naive baseline**: a ``post_save`` receiver calls both targets synchronously, one HTTP
   request per save and target, ``requests.post``/``requests.patch`` as most sync code writes it:
   a new connection per call, the very thing the hub's connection reuse saves
   (``--naive-connection keep-alive``: a shared keep-alive session instead, a stronger baseline).
   Its delivery rate is deliveries / the time spent inside those calls; its end-to-end rate counts
   the saves too.
2. **the hub**: the saves write outbox events (committed), then — timed from there until every
   target has acknowledged every delivery and the ledger says so — the dispatcher
   (``dispatch.dispatch_pending``) and, per target in its own process as prefork workers run
   push tasks (``--workers thread``: threads of this process), the service a push worker runs
   (``push.deliver_due``: leases, retry policy, ledger, links), until nothing is pending.
   Each wave is delivered before the next is written, so no change is coalesced away: every
   version is sent, as in the baseline. The hub's REST target (``--rest-write``) uses the CRM's
   documented bulk upsert (``bulk``, the default: Zoho-style, 100 records a request, one answer
   per record — batching where the target's API allows it, as OData's ``$batch`` does), or sends
   one request per record (``per-record``, as the baseline does); ``both`` pushes to two REST
   targets, each on a CRM of its own, reported apart — three hub targets at once on the same
   cores.

Afterwards the targets are counted: every record once, in its latest version, and no version
written twice (the version is read off the name each change sets).

Usage (the database is created when missing; its name must contain "bench")::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench .venv/bin/python bench/push.py \\
        [--changes 10000] [--latency-ms 0] [--workers process|thread] [--rest-write both|per-record|bulk] \\
        [--naive-connection fresh|keep-alive]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_list import PROJECT_ROOT, configure_environment, ensure_database  # the shared bench set-up

REST_MAP = {"code": "code", "name": "name", "email": "email"}
#: The CRM fake's upsert as Zoho CRM documents its own (at most 100 records a request, one answer each, in order).
REST_BULK = {"path": "/api/customers/upsert", "items_key": "data", "max_items": 100,
             "extra": {"duplicate_check_fields": ["code"]}, "item_key_field": "id", "results_path": "data",
             "status_field": "status", "success_values": ["success"], "key_field": "details.id"}  # fmt: skip
REST_WRITES = {"per-record": ("rest",), "bulk": ("rest-bulk",), "both": ("rest", "rest-bulk")}
ODATA_MAP = {"code": "SearchTerm1", "name": "OrganizationBPName1", "email": "EmailAddress"}
WAVES = ("create", "update")


# --- the targets, in a process of their own -----------------------------------------------------------
def serve_target(code: str, pipe: Any, latency: float) -> None:
    """Run one target's fake (a system of its own: a process of its own); answer counts until told to stop."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.connectors.fakes import AuthPolicy, CrmFake, ODataV4Fake

    fake = ODataV4Fake([]) if code == "odata" else CrmFake([], auth=AuthPolicy(open=True))
    with fake:
        if latency:
            fake.slow(latency, times=10**9)  # every request waits: a network and service round trip
        pipe.send(fake.base_url)
        while True:
            command, prefix = pipe.recv()
            if command == "stop":
                return
            if code == "odata":
                partners = fake.sets["A_BusinessPartner"]
                counted = tally(partners.records, fake.writes, "BusinessPartner", "SearchTerm1", "OrganizationBPName1",
                                prefix) | {"batches": len(fake.batches)}  # fmt: skip
            else:
                counted = tally(fake.records, fake.writes, "id", "code", "name", prefix)
            pipe.send(counted | {"requests": len(fake.requests), "cpu": time.process_time()})


def tally(records: list[dict], writes: list[tuple], key: str, code: str, name: str, prefix: str) -> dict[str, int]:
    """Records held, duplicates, records not at their latest version, and versions written twice."""
    mine = [r for r in records if str(r.get(code, "")).startswith(prefix)]
    held = Counter(r[code] for r in mine)
    code_of = {str(r.get(key)): r[code] for r in mine}
    written = Counter()
    for _op, record_key, body in writes:
        if name in body and str(record_key) in code_of:
            written[(code_of[str(record_key)], version_of(body[name]))] += 1
    return {
        "held": len(held),
        "duplicate_records": sum(1 for n in held.values() if n > 1),
        "not_latest": sum(1 for r in mine if version_of(r.get(name, "")) != 2),
        "versions_written": sum(written.values()),
        "versions_written_twice": sum(1 for n in written.values() if n > 1),
        "writes": sum(1 for _op, record_key, _body in writes if str(record_key) in code_of),
    }


def version_of(name: str) -> int:
    return 2 if str(name).endswith("(v2)") else 1


# --- the hub's side ---------------------------------------------------------------------------------------
def prepare() -> None:
    from django.core.management import call_command
    from django.db import connection

    from connectors.models import Delivery, FeedCursor, PushTarget, SyncFailure
    from masterdata.models import ChangeEvent, Customer, SourceDomain, SourceLink

    call_command("migrate", verbosity=0)
    models = (Customer, Customer.history.model, SourceLink, ChangeEvent, Delivery, FeedCursor, SyncFailure,
              PushTarget, SourceDomain)  # fmt: skip
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def make_targets(urls: dict[str, str], rest_writes: tuple[str, ...]) -> list[Any]:
    """The push targets, default options (retries, ledger, $batch detection): REST one request per record
    (``rest``) and/or with the CRM's bulk upsert (``rest-bulk``), and OData."""
    from connectors.models import Connection, PushTarget
    from masterdata.models import SourceDomain, SourceSystem

    made = []
    for code, protocol, resource, key, lookup, field_map, bulk in (
        ("rest", "rest", "/api/customers", "id", "code", REST_MAP, {}),
        ("rest-bulk", "rest", "/api/customers", "id", "code", REST_MAP, REST_BULK),
        ("odata", "odata_v4", "A_BusinessPartner", "BusinessPartner", "SearchTerm1", ODATA_MAP, {}),
    ):  # fmt: skip
        if code.startswith("rest") and code not in rest_writes:
            continue
        source, _ = SourceSystem.objects.get_or_create(code=f"bench-{code}",
                                                       defaults={"name": code.title(), "kind": "erp"})  # fmt: skip
        SourceDomain.objects.create(source=source, domain="customer", direction="push")
        Connection.objects.update_or_create(
            source=source, defaults={"protocol": protocol, "base_url": urls[code], "timeout_seconds": 30, "secret": "",
                                     "auth_type": "none"},
        )  # fmt: skip
        made.append(PushTarget.objects.create(source=source, domain="customer", resource=resource, key_field=key,
                                              lookup_field=lookup, field_map=field_map, batch_size=1000,
                                              bulk=bulk))  # fmt: skip
    return made


def write_wave(wave: str, prefix: str, count: int, records: list[Any]) -> list[Any]:
    """One wave of golden changes: ``count`` new customers, or a second version of each of ``records``."""
    from masterdata.models import Customer
    from masterdata.services import golden

    ctx = golden.ChangeContext(reason="bench")
    if wave == "create":
        rows = [
            {"code": f"{prefix}{n:06d}", "name": f"Customer {n}", "email": f"c{n}@example.com"} for n in range(count)
        ]
        return [golden.create(Customer, row, ctx) for row in rows]
    return [golden.update(record, {"name": f"{record.name} (v2)"}, ctx) for record in records]


def naive(count: int, rest_url: str, odata_url: str, *, keep_alive: bool) -> dict[str, float]:
    """Both waves with a synchronous HTTP call per save and target; seconds inside the calls and in all.

    ``keep_alive``: one shared session; otherwise the module-level ``requests`` call, a new connection each time.
    """
    import requests
    from django.db.models.signals import post_save

    from masterdata.models import Customer

    session: Any = requests.Session() if keep_alive else requests
    keys: dict[int, tuple[str, str]] = {}
    spent = {"calls": 0, "http": 0.0, "rest_http": 0.0, "odata_http": 0.0}

    def timed(method: str, url: str, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        response = session.request(method, url, timeout=30, **kwargs)
        response.raise_for_status()
        took = time.perf_counter() - started
        spent["http"] += took
        spent["rest_http" if url.startswith(rest_url) else "odata_http"] += took
        spent["calls"] += 1
        return response

    def push_now(sender: Any, instance: Customer, created: bool, **kwargs: Any) -> None:
        rest = {"code": instance.code, "name": instance.name, "email": instance.email}
        odata = {"SearchTerm1": instance.code, "OrganizationBPName1": instance.name, "EmailAddress": instance.email}
        if created:
            crm_key = timed("POST", f"{rest_url}/api/customers", json=rest).json()["id"]
            answer = timed("POST", f"{odata_url}/A_BusinessPartner", json=odata,
                           headers={"Prefer": "return=representation"})  # fmt: skip
            keys[instance.pk] = (crm_key, answer.json()["BusinessPartner"])
        else:
            crm_key, partner = keys[instance.pk]
            timed("PATCH", f"{rest_url}/api/customers/{crm_key}", json=rest)
            timed("PATCH", f"{odata_url}/A_BusinessPartner('{partner}')", json=odata)

    post_save.connect(push_now, sender=Customer, dispatch_uid="bench-naive-push")
    try:
        started = time.perf_counter()
        records: list[Any] = []
        for wave in WAVES:
            records = write_wave(wave, "NAIVE", count // 2, records)
        return {"total": time.perf_counter() - started, **spent}
    finally:
        post_save.disconnect(dispatch_uid="bench-naive-push", sender=Customer)
        if keep_alive:
            session.close()


def push_target(target_id: int, results: Any) -> None:
    """What one push worker does for one target: ``push.deliver_due`` until nothing is pending."""
    from django.db import connection

    from connectors.models import Delivery, DeliveryStatus, PushTarget
    from connectors.services import push

    started, cpu = time.perf_counter(), time.process_time()
    target = PushTarget.objects.select_related("source").get(pk=target_id)
    failure = ""
    try:
        while Delivery.objects.filter(target=target, status=DeliveryStatus.PENDING).exists():
            report = push.deliver_due(target)
            if report.retrying or report.dead or report.busy:
                failure = f"{target.source.code}: {report.as_dict()}"
                break
    finally:
        connection.close()
        results.put((target.source.code, time.perf_counter() - started, time.process_time() - cpu, failure))


def deliver_all(targets: list[Any], per_target: Counter, workers: str) -> None:
    """Dispatch the committed outbox, then push each target in its own worker until nothing is pending.

    ``workers``: ``process`` — one process per target, as prefork workers run push tasks; ``thread``
    — one thread per target in this process. ``per_target`` adds up each target's seconds.
    """
    import queue

    from django.db import connections

    from connectors.services import dispatch

    dispatch.dispatch_pending(max_events=10**7)
    if workers == "process":
        connections.close_all()  # a forked worker opens its own
        context = multiprocessing.get_context("fork")
        results: Any = context.Queue()
        runners: list[Any] = [context.Process(target=push_target, args=(t.pk, results)) for t in targets]
    else:
        results = queue.Queue()
        runners = [threading.Thread(target=push_target, args=(t.pk, results)) for t in targets]
    for runner in runners:
        runner.start()
    failures = []
    for _ in runners:
        code, seconds, cpu, failure = results.get()
        per_target[code] += seconds
        per_target[f"{code} cpu"] += cpu
        failures += [failure] if failure else []
    for runner in runners:
        runner.join()
    if failures:
        sys.exit(f"push failed: {failures}")


def hub(count: int, targets: list[Any], workers: str) -> dict[str, Any]:
    """Both waves: saves (committed to the outbox), then delivery until the targets acknowledged all."""
    spent: dict[str, Any] = {"saves": 0.0, "delivery": 0.0, "per_target": Counter()}
    records: list[Any] = []
    for wave in WAVES:
        started = time.perf_counter()
        records = write_wave(wave, "HUB", count // 2, records)
        committed = time.perf_counter()
        deliver_all(targets, spent["per_target"], workers)
        spent["saves"] += committed - started
        spent["delivery"] += time.perf_counter() - committed
    return spent


def ledger() -> dict[str, int]:
    from django.db.models import F

    from connectors.models import Delivery, DeliveryStatus

    rows = Delivery.objects.all()
    return {
        "deliveries": rows.count(),
        "delivered": rows.filter(status=DeliveryStatus.DELIVERED, delivered_version__gte=F("version")).count(),
        "attempts_failed": rows.filter(attempts__gt=0).count(),
    }


def check(side: str, counted: dict[str, dict[str, int]], customers: int, targets: tuple[str, ...]) -> None:
    for target in targets:
        tallied = counted[target]
        problems = {k: tallied[k] for k in ("duplicate_records", "not_latest", "versions_written_twice") if tallied[k]}
        if tallied["held"] != customers or problems:
            sys.exit(f"{side} → {target}: {tallied['held']} of {customers} records held; {problems}")


LABELS = {"rest": "REST, one request per record", "rest-bulk": "REST, bulk upsert", "odata": "OData v4"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request at the targets")
    parser.add_argument("--workers", choices=("process", "thread"), default="process",
                        help="run each target's push in its own process (as workers do) or thread")  # fmt: skip
    parser.add_argument("--rest-write", choices=tuple(REST_WRITES), default="bulk",
                        help="the hub's REST target: one request per record, the bulk upsert, or both (two REST "
                             "targets, each on its own CRM)")  # fmt: skip
    parser.add_argument("--naive-connection", choices=("fresh", "keep-alive"), default="fresh",
                        help="the baseline's calls: a new connection each (requests.post), or one kept-alive "
                             "session")  # fmt: skip
    args = parser.parse_args()
    customers = args.changes // 2
    changes = 2 * customers
    hub_targets = (*REST_WRITES[args.rest_write], "odata")

    url = configure_environment()
    ensure_database(url)
    pipes: dict[str, Any] = {}
    servers = []
    for code in ("rest", "rest-bulk", "odata"):  # each before Django opens any connection
        pipes[code], child = multiprocessing.Pipe()
        servers.append(multiprocessing.get_context("fork").Process(
            target=serve_target, args=(code, child, args.latency_ms / 1000), daemon=True))  # fmt: skip
        servers[-1].start()
    urls = {code: pipe.recv() for code, pipe in pipes.items()}

    def count(prefix: str) -> dict[str, dict[str, int]]:
        for pipe in pipes.values():
            pipe.send(("count", prefix))
        return {code: pipe.recv() for code, pipe in pipes.items()}

    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    from connectors.models import FeedCursor
    from connectors.services import dispatch
    from masterdata.services import changefeed

    dispatch._enqueue = lambda event_ids: None  # the benchmark runs the dispatcher itself: nothing goes to a broker
    prepare()
    targets = make_targets(urls, REST_WRITES[args.rest_write])
    load_before = os.getloadavg()
    try:
        baseline = naive(changes, urls["rest"], urls["odata"], keep_alive=args.naive_connection == "keep-alive")
        naive_counted = count("NAIVE")
        FeedCursor.objects.update_or_create(name="dispatch", defaults={"position": changefeed.start_position()})
        ours = hub(changes, targets, args.workers)
        hub_counted = count("HUB")
        load_after = os.getloadavg()
    finally:
        for pipe in pipes.values():
            pipe.send(("stop", ""))
        for server in servers:
            server.join(5)
    check("naive", naive_counted, customers, ("rest", "odata"))
    check("hub", hub_counted, customers, hub_targets)
    booked = ledger()
    if booked["delivered"] != booked["deliveries"] or booked["deliveries"] != len(hub_targets) * changes:
        sys.exit(f"ledger: {booked}")

    naive_rate = baseline["calls"] / baseline["http"]
    hub_rate = booked["delivered"] / ours["delivery"]
    naive_e2e = changes / baseline["total"]
    hub_e2e = changes / (ours["saves"] + ours["delivery"])
    requests = {t: hub_counted[t]["requests"] - naive_counted[t]["requests"] for t in hub_targets}
    batches = hub_counted["odata"]["batches"] - naive_counted["odata"]["batches"]
    names = ", ".join(LABELS[t] for t in hub_targets)
    print(f"{changes:,} golden changes ({customers:,} new customers, then a second version of each); naive: a REST "
          f"and an OData v4 target, {2 * changes:,} deliveries; hub: {names}, {len(hub_targets) * changes:,} "
          f"deliveries; target latency {args.latency_ms:g} ms")  # fmt: skip
    print(f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
          f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}")  # fmt: skip
    how = "one kept-alive session" if args.naive_connection == "keep-alive" else "a new connection per call"
    print(f"naive  delivery: {baseline['calls']:,.0f} HTTP calls inside post_save ({how}) took "
          f"{baseline['http']:.1f} s → {naive_rate:,.0f} deliveries/s")  # fmt: skip
    print(f"hub    delivery: {booked['delivered']:,} deliveries acknowledged and booked in {ours['delivery']:.1f} s "
          f"→ {hub_rate:,.0f} deliveries/s (dispatch + push.deliver_due, one {args.workers} per target, all targets "
          f"at once)")  # fmt: skip
    naive_calls = {"rest": baseline["rest_http"], "rest-bulk": baseline["rest_http"], "odata": baseline["odata_http"]}
    print("per target, deliveries/s naive → hub (the naive REST figure is the same one-call-per-save REST baseline):")
    for code in hub_targets:
        seconds = ours["per_target"][f"bench-{code}"]
        sent = f"{requests[code]:,} requests" + (f", {batches:,} of them $batch" if code == "odata" else "")
        print(f"  {LABELS[code]:<30} {changes / naive_calls[code]:>7,.0f} → {changes / seconds:>7,.0f} "
              f"(×{naive_calls[code] / seconds:.1f}; {sent})")  # fmt: skip
    if args.workers == "process":  # CPU seconds per 1,000 deliveries: the caller's side and the target's
        naive_cpu = {t: naive_counted[t]["cpu"] for t in ("rest", "odata")}
        hub_cpu = {t: hub_counted[t]["cpu"] - naive_counted[t]["cpu"] for t in hub_targets}
        worker_cpu = {t: ours["per_target"][f"bench-{t} cpu"] for t in hub_targets}
        print("CPU seconds per 1,000 deliveries — target (fake) process: naive " + ", ".join(
            f"{LABELS[t]} {1000 * naive_cpu[t] / changes:.2f}" for t in ("rest", "odata")) + "; hub " + ", ".join(
            f"{LABELS[t]} {1000 * hub_cpu[t] / changes:.2f}" for t in hub_targets) + "; hub push worker: " + ", ".join(
            f"{LABELS[t]} {1000 * worker_cpu[t] / changes:.2f}" for t in hub_targets))  # fmt: skip
    print(f"naive  end to end: {baseline['total']:.1f} s (saves with their calls) → {naive_e2e:,.1f} changes/s")
    print(
        f"hub    end to end: {ours['saves']:.1f} s saves + {ours['delivery']:.1f} s delivery → {hub_e2e:,.1f} changes/s"
    )
    print(f"ratio hub / naive: delivery ×{hub_rate / naive_rate:.1f}, end to end ×{hub_e2e / naive_e2e:.2f}")
    naive_versions = sum(naive_counted[t]["versions_written"] for t in ("rest", "odata"))
    hub_versions = sum(hub_counted[t]["versions_written"] for t in hub_targets)
    print(f"targets: every record held once in its latest version, no version written twice (versions written: "
          f"naive {naive_versions:,}, hub {hub_versions:,}); ledger: {booked['delivered']:,}/{booked['deliveries']:,} "
          f"delivered, {booked['attempts_failed']} failed attempts")  # fmt: skip


if __name__ == "__main__":
    main()
