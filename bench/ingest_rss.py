"""Benchmark: peak memory of a pull of a 1,000,000-row customer CSV through the full pipeline.

Not part of the test run. The parent writes the CSV into a drop directory (row by row, never
held in memory), then a fresh Python process pulls it as an operator would: a source with a
file connection (``protocol=file``), a mapping, :func:`connectors.services.pipeline.pull` —
the file is streamed page by page (1,000 records) through map ▸ validate ▸ match ▸
survivorship ▸ write, one transaction per page. After every 100,000 records the child reports
its peak resident set size (``ru_maxrss``), so a flat line shows that memory does not grow
with the number of records.

Usage (the database's customer tables are emptied; its name must contain "bench")::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdm_bench .venv/bin/python bench/ingest.py --csv-rss \\
        [--csv-rows 1000000]

Target: peak RSS under 500 MB at 1,000,000 rows, and about the same as at 100,000.
"""

from __future__ import annotations

import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CSV_FIELDS = ("code", "name", "tax_id", "email", "country", "address", "credit_rating", "credit_limit", "owner_org")
REPORT_EVERY = 100_000
LIMIT_MB = 500


def write_csv(path: Path, rows: int) -> None:
    """``rows`` customers of the benchmark's kind, written one at a time."""
    from faker import Faker
    from ingest import SEED, customer_values

    rng = random.Random(SEED)
    faker = Faker("en_US")
    faker.seed_instance(SEED)
    surnames = sorted({faker.last_name() for _ in range(20_000)})  # as the main benchmark's names
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for n in range(rows):
            values = customer_values(n, rng, surnames)
            writer.writerow([values[name] for name in CSV_FIELDS])


def peak_mb() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(drop: str, mode: str = "pull") -> None:
    """Pull the dropped file through the pipeline; print one JSON line per 100,000 records.

    ``mode="read"``: only the connector's streaming reader and the mapping (no database writes).
    """
    from api_list import configure_environment

    configure_environment()
    import django

    django.setup()
    from ingest import prepare

    from connectors.models import Connection, Mapping
    from connectors.services import locks, pipeline
    from masterdata.models import SourceDomain, SourceSystem

    prepare()
    source, _ = SourceSystem.objects.get_or_create(code="bench-files", defaults={"name": "Bench file drop"})
    SourceDomain.objects.get_or_create(source=source, domain="customer", defaults={"trust_rank": 70})
    Connection.objects.update_or_create(
        source=source, defaults={"protocol": "file", "base_url": drop, "page_size": 1000, "options": {}}
    )
    Mapping.objects.update_or_create(
        source=source,
        domain="customer",
        defaults={
            "fetch_spec": {"resource": "customers*.csv", "key_field": "code", "cursor_field": None},
            "field_map": [{"source": name, "target": name} for name in CSV_FIELDS],
        },
    )
    if locks.redis_url():  # a lock left by an interrupted benchmark run would refuse the pull
        import redis

        redis.Redis.from_url(locks.redis_url()).delete(locks.lock_name(source.pk, "customer"))
    started = time.perf_counter()
    print(json.dumps({"records": 0, "peak_mb": round(peak_mb(), 1), "seconds": 0}), flush=True)
    reported = [0]

    def progress(run, page) -> None:
        if run.fetched // REPORT_EVERY > reported[0] // REPORT_EVERY:
            reported[0] = run.fetched
            line = {"records": run.fetched, "peak_mb": round(peak_mb(), 1)}
            print(json.dumps({**line, "seconds": round(time.perf_counter() - started, 1)}), flush=True)

    if mode == "read":
        read_and_map(source, started)
        return
    run = pipeline.pull(source, "customer", progress=progress).run
    print(
        json.dumps(
            {
                "records": run.fetched,
                "peak_mb": round(peak_mb(), 1),
                "seconds": round(time.perf_counter() - started, 1),
                "status": run.status,
                "created": run.created,
                "failed": run.failed,
            }
        ),
        flush=True,
    )


def read_and_map(source, started: float) -> None:
    """The file connector's pages through :func:`~connectors.services.pipeline.map_records`, nothing written."""
    from connectors.protocols import get_connector
    from connectors.services import pipeline

    mapping = pipeline.load_mapping(source, "customer")
    mapper, spec = mapping.mapper(), mapping.spec()
    count, mapped, failed = 0, 0, 0
    with get_connector(source.connection) as connector:
        for page in connector.fetch(spec, None):
            incoming, failures = pipeline.map_records(mapper, page.records, spec)
            count, mapped, failed = count + len(page.records), mapped + len(incoming), failed + len(failures)
            if page.records and count % REPORT_EVERY == 0:
                seconds = round(time.perf_counter() - started, 1)
                print(json.dumps({"records": count, "peak_mb": round(peak_mb(), 1), "seconds": seconds}), flush=True)
    seconds = round(time.perf_counter() - started, 1)
    line = {"records": count, "peak_mb": round(peak_mb(), 1), "seconds": seconds, "mapped": mapped, "failed": failed}
    print(json.dumps(line), flush=True)


def main(rows: int, mode: str = "pull") -> None:
    """Write the CSV, run the pull in a child process and print its memory line by line."""
    with tempfile.TemporaryDirectory(prefix="mdm-bench-drop-") as drop:
        path = Path(drop) / "customers.csv"
        started = time.perf_counter()
        write_csv(path, rows)
        size = path.stat().st_size / 1024 / 1024
        what = "pulling it" if mode == "pull" else "reading and mapping it (no writes)"
        print(f"wrote {rows:,} rows ({size:,.0f} MB) in {time.perf_counter() - started:.0f} s; {what}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        command = [sys.executable, str(Path(__file__).resolve()), "--child", drop, mode]
        lines = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            for line in process.stdout:
                if not line.startswith("{"):
                    continue
                report = json.loads(line)
                lines.append(report)
                rate = report["records"] / report["seconds"] if report["seconds"] else 0
                extra = {k: v for k, v in report.items() if k not in ("records", "peak_mb", "seconds")}
                print(
                    f"  {report['records']:>9,} records  peak RSS {report['peak_mb']:6.1f} MB  "
                    f"{report['seconds']:7.1f} s  {rate:6,.0f} records/s  {extra or ''}"
                )
        if process.returncode:
            sys.exit(f"the pull stopped (exit code {process.returncode})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    at = {r["records"]: r["peak_mb"] for r in lines}
    first = next((mb for n, mb in at.items() if n >= REPORT_EVERY), None)
    last = lines[-1]["peak_mb"]
    if first is not None:
        print(f"peak RSS at {REPORT_EVERY:,}: {first:.1f} MB; at {lines[-1]['records']:,}: {last:.1f} MB "
              f"(growth {last - first:+.1f} MB; target < {LIMIT_MB} MB)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
