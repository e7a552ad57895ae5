"""The hub's Prometheus metrics, in one place.

Two kinds:

* measured in the process that does the work — latency of calls to external systems (in the
  Celery worker that runs a sync), records pushed, and django-prometheus' request metrics;
* read from the database at scrape time by :class:`DatabaseCollector` — records pulled and
  failures (from sync runs and the failure queue), dead letters, open conflicts, outbox lag,
  sync freshness — so they are right whichever process did the work and survive restarts.
  Every web process reports the same values: aggregate them with ``max``, not ``sum``.

Several processes (gunicorn workers, a prefork Celery pool) need prometheus_client's
multiprocess mode: point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory shared by them.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, start_http_server
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

EXTERNAL_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))

external_call_seconds = Histogram(
    "mdm_external_call_seconds",
    "Duration of HTTP calls to external systems, including failed ones.",
    ["source", "protocol", "operation"],
    buckets=EXTERNAL_CALL_BUCKETS,
)
records_pushed = Counter(
    "mdm_records_pushed",
    "Golden records delivered to a target system.",
    ["target", "domain"],
)


def count_pushed(target: str, domain: str, records: int = 1) -> None:
    """Push delivery calls this after a target accepted ``records`` records."""
    records_pushed.labels(target=target, domain=domain).inc(records)


def _model(label: str) -> Any:
    """A model by ``app.Model``, or None when it does not exist (yet) in this installation."""
    try:
        return apps.get_model(label)
    except LookupError:
        return None


class DatabaseCollector(Collector):
    """Metrics computed from the tables (and the heartbeat cache) at scrape time; a family that fails is left out."""

    def collect(self) -> Iterator[Metric]:
        for family in (
            self.records_pulled,
            self.sync_failures,
            self.dead_letters,
            self.open_conflicts,
            self.outbox,
            self.sync_freshness,
            self.worker_heartbeat,
        ):
            try:
                yield from family()
            except Exception as exc:  # the database or the cache is down: the rest of the scrape still counts
                log.warning("metrics: %s skipped (%s)", family.__name__, type(exc).__name__)

    @staticmethod
    def records_pulled() -> Iterable[Metric]:
        run = _model("connectors.SyncRun")
        if run is None:
            return []
        family = CounterMetricFamily(
            "mdm_records_pulled", "Records read from source systems by sync runs.", labels=["source", "domain"]
        )
        for row in run.objects.values("source__code", "domain").annotate(total=Sum("fetched")).order_by():
            family.add_metric([row["source__code"], row["domain"]], row["total"] or 0)
        return [family]

    @staticmethod
    def sync_failures() -> Iterable[Metric]:
        """Record failures by pipeline stage (every attempt counts) and whole runs that stopped (``run``)."""
        failure, run = _model("connectors.SyncFailure"), _model("connectors.SyncRun")
        if failure is None or run is None:
            return []
        family = CounterMetricFamily(
            "mdm_sync_failures",
            "Sync failures by classification: the pipeline stage of a record, or 'run' for a stopped run.",
            labels=["source", "domain", "classification"],
        )
        rows = failure.objects.values("source__code", "domain", "stage").annotate(total=Sum("attempts")).order_by()
        for row in rows:
            family.add_metric([row["source__code"], row["domain"], row["stage"]], row["total"] or 0)
        stopped = run.objects.filter(status="failed").values("source__code", "domain").annotate(total=Count("id"))
        for row in stopped.order_by():
            family.add_metric([row["source__code"], row["domain"], "run"], row["total"])
        return [family]

    @staticmethod
    def dead_letters() -> Iterable[Metric]:
        failure = _model("connectors.SyncFailure")
        if failure is None:
            return []
        family = GaugeMetricFamily(
            "mdm_dead_letters", "Open entries of the failure queue by system and domain.", labels=["system", "domain"]
        )
        rows = failure.objects.filter(status="open").values("source__code", "domain").annotate(total=Count("id"))
        for row in rows.order_by():
            family.add_metric([row["source__code"], row["domain"]], row["total"])
        return [family]

    @staticmethod
    def open_conflicts() -> Iterable[Metric]:
        conflict = _model("masterdata.Conflict")
        if conflict is None:
            return []
        family = GaugeMetricFamily("mdm_open_conflicts", "Conflicts waiting for a steward.", labels=["domain"])
        rows = conflict.objects.filter(status="open").values("domain").annotate(total=Count("id")).order_by()
        for row in rows:
            family.add_metric([row["domain"]], row["total"])
        return [family]

    @staticmethod
    def outbox() -> Iterable[Metric]:
        """Pending events and the age of the oldest: the outbox marks delivery in ``dispatched_at``."""
        event = _model("masterdata.ChangeEvent")
        if event is None or not any(f.name == "dispatched_at" for f in event._meta.get_fields()):
            return []
        pending = event.objects.filter(dispatched_at__isnull=True).aggregate(
            count=Count("id"), oldest=Min("occurred_at")
        )
        lag = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
        return [
            GaugeMetricFamily("mdm_outbox_pending_events", "Change events not yet dispatched.", value=pending["count"]),
            GaugeMetricFamily("mdm_outbox_lag_seconds", "Age of the oldest undispatched change event.", value=lag),
        ]

    @staticmethod
    def sync_freshness() -> Iterable[Metric]:
        state = _model("connectors.SyncState")
        if state is None:
            return []
        family = GaugeMetricFamily(
            "mdm_sync_last_success_timestamp_seconds",
            "When the pull of a source/domain last succeeded (Unix time).",
            labels=["source", "domain"],
        )
        rows = state.objects.filter(last_success_at__isnull=False).values_list(
            "source__code", "domain", "last_success_at"
        )
        for source, domain, at in rows:
            family.add_metric([source, domain], at.timestamp())
        return [family]

    @staticmethod
    def worker_heartbeat() -> Iterable[Metric]:
        from masterdata.services import workers

        age = workers.heartbeat_age()
        if age is None:
            return []
        return [GaugeMetricFamily("mdm_worker_heartbeat_age_seconds", "Seconds since a worker last beat.", value=age)]


class _Scrape(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_registry() -> Collector:
    """This process' metrics, or every process' in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    """The text exposition of a scrape of the web process: its own metrics plus the database's."""
    return generate_latest(_Scrape(process_registry(), DatabaseCollector())), CONTENT_TYPE_LATEST


def serve_worker_metrics(port: int, address: str) -> WSGIServer:
    """A Celery worker's own metrics (external call latency, pushes) on a port of its own, in a thread."""
    server, _thread = start_http_server(port, addr=address, registry=process_registry())
    log.info("worker metrics on %s:%s", address, port)
    return server


def scrape_refusal(authorization: str, remote_addr: str) -> int | None:
    """None when a scrape may proceed, else the HTTP status to refuse it with.

    Allowed: the bearer token ``MDM_METRICS_TOKEN`` (when set, compared in constant time), or a
    client address inside ``MDM_METRICS_ALLOWED_NETWORKS``. The address is the peer's
    (``REMOTE_ADDR``), never a forwarded header a client could forge.
    """
    token = settings.MDM_METRICS_TOKEN
    scheme, _, offered = authorization.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode()):
        return None
    if _in_allowed_network(remote_addr):
        return None
    return 401 if token else 403


def _in_allowed_network(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack server reports IPv4 peers as ::ffff:a.b.c.d
    networks = (ipaddress.ip_network(net, strict=False) for net in settings.MDM_METRICS_ALLOWED_NETWORKS)
    return any(address in network for network in networks if network.version == address.version)
