"""Benchmark: outbound push (outbox ▸ dispatch ▸ coalesced, batched delivery) against a naive push.

Not part of the test run. Golden changes — N/2 new customers, then a second version of each —
are written through the hub's single write path (``services.golden``) and must reach two local
targets: a REST API (the CRM fake: one request per record) and an OData v4 service (the
S/4HANA fake, written with JSON ``$batch``). Measured in the same run, on PostgreSQL:

1. **naive baseline** (on a sample): a ``post_save`` receiver that calls each target
   synchronously, one HTTP request per save and target;
2. **the hub**: the same saves (each writes its outbox event), then the dispatcher and one push
   worker per target until both targets hold every record in its latest version.

Both are end to end: from the first save until the targets hold everything. Printed: changes per
second, HTTP requests per target, and the ratio.

Usage (the database is created when missing; its name must contain "bench")::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench .venv/bin/python bench/push.py \
        [--changes 10000] [--baseline 2000] [--batch 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_list import PROJECT_ROOT, configure_environment, ensure_database  # the shared bench set-up

REST_MAP = {"code": "code", "name": "name", "email": "email"}
ODATA_MAP = {"code": "SearchTerm1", "name": "OrganizationBPName1", "email": "EmailAddress"}


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


def targets(rest_url: str, odata_url: str, batch: int) -> tuple[Any, Any]:
    from connectors.models import Connection, PushTarget
    from masterdata.models import SourceDomain, SourceSystem

    made = []
    for code, protocol, url, resource, key, field_map, options in (
        ("bench-rest", "rest", rest_url, "/api/customers", "id", REST_MAP, {}),
        ("bench-odata", "odata_v4", odata_url, "A_BusinessPartner", "BusinessPartner", ODATA_MAP,
         {"batch_size": batch}),
    ):  # fmt: skip
        source, _ = SourceSystem.objects.get_or_create(code=code, defaults={"name": code.title(), "kind": "erp"})
        SourceDomain.objects.create(source=source, domain="customer", direction="push")
        Connection.objects.update_or_create(
            source=source, defaults={"protocol": protocol, "base_url": url, "timeout_seconds": 30, "secret": "",
                                     "options": {"max_retries": 0}, "auth_type": "none"},
        )  # fmt: skip
        lookup = "code" if protocol == "rest" else "SearchTerm1"
        made.append(PushTarget.objects.create(source=source, domain="customer", resource=resource, key_field=key,
                                              lookup_field=lookup, field_map=field_map, options=options,
                                              batch_size=1000))  # fmt: skip
    return made[0], made[1]


def write_changes(prefix: str, count: int) -> list[Any]:
    """``count`` golden changes: ``count // 2`` new customers, then a second version of each."""
    from masterdata.models import Customer
    from masterdata.services import golden

    ctx = golden.ChangeContext(reason="bench")
    values = [
        {"code": f"{prefix}{n:06d}", "name": f"Customer {n}", "email": f"c{n}@example.com"} for n in range(count // 2)
    ]
    records = [golden.create(Customer, row, ctx) for row in values]
    return [golden.update(record, {"name": f"{record.name} (v2)"}, ctx) for record in records]


def naive(count: int, rest_url: str, odata_url: str) -> float:
    """Seconds for ``count`` changes with a synchronous HTTP call per save and target."""
    import requests
    from django.db.models.signals import post_save

    from masterdata.models import Customer

    session = requests.Session()
    keys: dict[int, tuple[str, str]] = {}

    def push_now(sender: Any, instance: Customer, created: bool, **kwargs: Any) -> None:
        rest = {"code": instance.code, "name": instance.name, "email": instance.email}
        odata = {"SearchTerm1": instance.code, "OrganizationBPName1": instance.name, "EmailAddress": instance.email}
        if created:
            crm_key = session.post(f"{rest_url}/api/customers", json=rest, timeout=30).json()["id"]
            answer = session.post(f"{odata_url}/A_BusinessPartner", json=odata, timeout=30,
                                  headers={"Prefer": "return=representation"})  # fmt: skip
            keys[instance.pk] = (crm_key, answer.json()["BusinessPartner"])
        else:
            crm_key, partner = keys[instance.pk]
            session.patch(f"{rest_url}/api/customers/{crm_key}", json=rest, timeout=30).raise_for_status()
            session.patch(f"{odata_url}/A_BusinessPartner('{partner}')", json=odata, timeout=30).raise_for_status()

    post_save.connect(push_now, sender=Customer, dispatch_uid="bench-naive-push")
    try:
        started = time.perf_counter()
        write_changes("NAIVE", count)
        return time.perf_counter() - started
    finally:
        post_save.disconnect(dispatch_uid="bench-naive-push", sender=Customer)
        session.close()


def hub(count: int, rest_target: Any, odata_target: Any) -> tuple[float, float, dict[str, float]]:
    """(seconds writing, seconds until both targets hold everything, push seconds per target)."""
    from connectors.models import Delivery, DeliveryStatus
    from connectors.services import dispatch, push

    started = time.perf_counter()
    write_changes("HUB", count)
    written = time.perf_counter()
    dispatch.dispatch_pending(max_events=10 * count)
    per_target = {}
    for target in (rest_target, odata_target):
        begun = time.perf_counter()
        while Delivery.objects.filter(target=target, status=DeliveryStatus.PENDING).exists():
            report = push.deliver_due(target)
            if report.retrying or report.dead:
                sys.exit(f"push to {target} failed: {report}")
        per_target[target.source.code] = time.perf_counter() - begun
    return written - started, time.perf_counter() - started, per_target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=2_000, help="changes timed for the naive push")
    parser.add_argument("--batch", type=int, default=200, help="writes per OData $batch request")
    args = parser.parse_args()

    url = configure_environment()
    ensure_database(url)
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    from connectors.services import dispatch
    from masterdata.services import changefeed
    from tests.connectors.fakes import AuthPolicy, CrmFake, ODataV4Fake

    dispatch._enqueue = lambda event_ids: None  # the benchmark plays the worker itself: nothing goes to a broker
    prepare()
    with CrmFake([], auth=AuthPolicy(open=True)) as rest, ODataV4Fake([]) as odata:
        rest_target, odata_target = targets(rest.base_url, odata.base_url, args.batch)
        naive_seconds = naive(args.baseline, rest.base_url, odata.base_url)
        naive_requests = len(rest.requests) + len(odata.requests)
        from connectors.models import FeedCursor

        FeedCursor.objects.update_or_create(name="dispatch", defaults={"position": changefeed.start_position()})
        rest.requests.clear(), odata.requests.clear()

        write_seconds, hub_seconds, per_target = hub(args.changes, rest_target, odata_target)
        held = {"rest": len(rest.records) - args.baseline // 2, "odata": len(odata.sets["A_BusinessPartner"].records)}

    odata_held = held["odata"] - args.baseline // 2
    assert held["rest"] == args.changes // 2 and odata_held == args.changes // 2, held
    naive_rate = args.baseline / naive_seconds
    hub_rate = args.changes / hub_seconds
    push_seconds = hub_seconds - write_seconds
    save_ms = 1000 * write_seconds / args.changes
    naive_push_ms = max(0.0, 1000 * naive_seconds / args.baseline - save_ms)  # the calls each save waited for
    hub_push_ms = 1000 * push_seconds / args.changes
    customers = args.changes // 2
    print(f"{args.changes:,} golden changes ({customers:,} customers × 2 versions) to a REST and an OData target")
    sample = f"{args.baseline:,} changes, {naive_requests:,} requests"
    print(f"naive, an HTTP call per save and target: {naive_rate:8,.0f} changes/s end to end ({sample})")
    print(f"hub, outbox ▸ dispatch ▸ push:           {hub_rate:8,.0f} changes/s end to end "
          f"(saves {write_seconds:.1f} s, then REST {per_target['bench-rest']:.1f} s / {len(rest.requests):,} "
          f"requests, OData {per_target['bench-odata']:.1f} s / {len(odata.requests):,} requests)")  # fmt: skip
    print(f"push cost per change: naive {naive_push_ms:.2f} ms inside the save, hub {hub_push_ms:.2f} ms after it "
          f"→ {naive_push_ms / hub_push_ms:.1f}×; end to end {hub_rate / naive_rate:.1f}× "
          f"(a save alone takes {save_ms:.1f} ms here)")  # fmt: skip


if __name__ == "__main__":
    main()
