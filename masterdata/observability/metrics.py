"""The hub's Prometheus metrics, in one place.

Two kinds:

* measured in the process that does the work — latency of calls to external systems (in the
  Celery worker that runs a sync), records pushed, and django-prometheus' request metrics;
* read from the database at scrape time by :class:`DatabaseCollector` — records pulled and
  failures (from sync runs and the failure queue), dead letters, open conflicts, outbox lag,
  sync freshness — so they are right whichever process did the work and survive restarts.
  Every web process reports the same values: aggregate them with ``max``, not ``sum``.

The system label of a push target is its source system's code; of a webhook subscription it is
``webhook:<name>`` (a source code is a slug, so the two never collide). A label the database
leaves empty is rendered ``unknown``, never dropped.

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
from django.db.models.functions import Coalesce
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


#: The label value of something the database leaves empty (a label must be text to be rendered).
UNKNOWN = "unknown"
#: The class of a failure recorded without one (a stopped run, a row older than classification).
UNCLASSIFIED = "unclassified"


def count_pushed(target: str, domain: str, records: int = 1) -> None:
    """Push delivery calls this after a target accepted ``records`` records."""
    records_pushed.labels(target=target, domain=domain).inc(records)


def webhook_system(name: str) -> str:
    """How a webhook subscription is labelled where a source system would be (calls, failures, dead letters)."""
    return f"webhook:{name}"


def _system(source_code: str | None, subscription_name: str | None) -> str:
    """The system a failure concerns: its source, else its webhook subscription."""
    if source_code:
        return source_code
    return webhook_system(subscription_name) if subscription_name else UNKNOWN


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
                found = [_text_labels(metric) for metric in family()]
            except Exception as exc:  # the database or the cache is down: the rest of the scrape still counts
                log.warning("metrics: %s skipped (%s)", family.__name__, type(exc).__name__)
                continue
            yield from found

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
        """Failures by class (transient, bad data, configuration) and stage (every attempt counts).

        A whole run that stopped counts with stage ``run``; a run keeps no class, so it is
        ``unclassified``.
        """
        failure, run = _model("connectors.SyncFailure"), _model("connectors.SyncRun")
        if failure is None or run is None:
            return []
        family = CounterMetricFamily(
            "mdm_sync_failures",
            "Sync failures by classification (transient, bad_data, configuration) and pipeline stage "
            "('run' for a stopped run); attempts count.",
            labels=["source", "domain", "stage", "classification"],
        )
        rows = failure.objects.values("source__code", "subscription__name", "domain", "stage", "classification")
        for row in rows.annotate(total=Sum("attempts")).order_by():
            family.add_metric(
                [
                    _system(row["source__code"], row["subscription__name"]),
                    row["domain"],
                    row["stage"],
                    row["classification"] or UNCLASSIFIED,
                ],
                row["total"] or 0,
            )
        stopped = run.objects.filter(status="failed").values("source__code", "domain").annotate(total=Count("id"))
        for row in stopped.order_by():
            family.add_metric([row["source__code"], row["domain"], "run", UNCLASSIFIED], row["total"])
        return [family]

    @staticmethod
    def dead_letters() -> Iterable[Metric]:
        """Open outbound failures: pushes parked after their retries, webhook batches parked.

        Inbound failures are records the hub refused, waiting in the failure queue for their
        source to send them again — not dead letters; ``mdm_sync_failures`` counts them.
        """
        failure = _model("connectors.SyncFailure")
        if failure is None:
            return []
        family = GaugeMetricFamily(
            "mdm_dead_letters",
            "Parked outbound deliveries (push records, webhook batches) waiting for a retry or a discard.",
            labels=["system", "domain"],
        )
        rows = failure.objects.filter(status="open", direction="outbound").values(
            "source__code", "subscription__name", "domain"
        )
        for row in rows.annotate(total=Count("id")).order_by():
            family.add_metric([_system(row["source__code"], row["subscription__name"]), row["domain"]], row["total"])
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
        """Per push target: deliveries waiting, and how long the oldest change among them has waited.

        A delivery is done once ``delivered`` (or parked ``dead``: then it is a dead letter); a
        pending one — due or in backoff — is still in the queue. Its age runs from the change
        (the event's ``occurred_at``), or for a replay or resync, which has no event, from when
        the delivery was queued. Every target reports, 0 when nothing waits.
        """
        target, delivery = _model("connectors.PushTarget"), _model("connectors.Delivery")
        if target is None or delivery is None:
            return []
        waiting = {key: (0, None) for key in target.objects.values_list("source__code", "domain").order_by()}
        rows = (
            delivery.objects.filter(status="pending")
            .values("target__source__code", "domain")
            .annotate(count=Count("id"), oldest=Min(Coalesce("event__occurred_at", "created_at")))
            .order_by()
        )
        for row in rows:
            waiting[(row["target__source__code"], row["domain"])] = (row["count"], row["oldest"])
        pending = GaugeMetricFamily(
            "mdm_outbox_pending_deliveries",
            "Deliveries of golden changes waiting for their push target (due or in backoff).",
            labels=["target", "domain"],
        )
        lag = GaugeMetricFamily(
            "mdm_outbox_lag_seconds",
            "Age of the oldest change not yet delivered to the push target (0 when nothing waits).",
            labels=["target", "domain"],
        )
        now = timezone.now()
        for (code, domain), (count, oldest) in sorted(waiting.items()):
            pending.add_metric([code, domain], count)
            lag.add_metric([code, domain], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        return [pending, lag]

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


def _text_labels(metric: Metric) -> Metric:
    """Every label value as text: one None (a row without a source) would make the whole scrape fail to render."""
    for index, sample in enumerate(metric.samples):
        if any(not isinstance(label, str) for label in sample.labels.values()):
            labels = {name: UNKNOWN if label is None else str(label) for name, label in sample.labels.items()}
            metric.samples[index] = sample._replace(labels=labels)
    return metric


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
    (``REMOTE_ADDR``), or behind trusted proxies the one the outermost of them saw
    (:func:`masterdata.services.audit.client_ip`); never a forwarded entry a client could forge.
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
