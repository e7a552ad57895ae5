"""The pull pipeline, written once over the domain registry.

fetch page ▸ map ▸ (validate ▸ find link ▸ match ▸ survivorship ▸ conflicts ▸ write:
:func:`masterdata.services.ingest.ingest_batch`) ▸ commit ▸ advance the cursor.

Each page is one transaction: the golden records, history, links, conflicts and outbox events
that ``ingest_batch`` writes, the page's failures, the run's counters and the new cursor commit
together or not at all. So the cursor never runs ahead of what was written, a crash loses
nothing (the next pull starts after the last committed page) and a re-read page changes nothing
(unchanged payloads are skipped by hash). Cursor tie-breaking and the look-back overlap are the
connector's (``FetchSpec.lookback_seconds``); the pipeline only stores what a committed page hands it.

A bad record never stops a page: it goes to the failure queue and the rest go on. A page the
source sent malformed stops the run (``partial``) before its cursor; credentials or
configuration that do not work fail the run (``failed``) and leave the cursor where it was;
a transient outage fails the run and is raised again so the Celery task retries with backoff.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.errors import ConnectorError, PayloadError, TransientError
from connectors.models import (
    RUN_COUNTS,
    FailureStage,
    FailureStatus,
    Mapping,
    SyncFailure,
    SyncRun,
    SyncRunStatus,
    SyncState,
    SyncTrigger,
)
from connectors.protocols import Cursor, FetchSpec, Page, get_connector
from connectors.protocols.base import dig, parse_timestamp
from connectors.services import alerts, failures, locks
from connectors.services.failures import FailedItem
from connectors.services.mapping import Mapper, MappingConfigError, MappingError
from connectors.services.plan import DryRunPlan
from connectors.services.read_ahead import read_ahead
from masterdata.models import LinkStatus, SourceLink, SourceSystem
from masterdata.registry import registry
from masterdata.services.ingest import BatchResult, IncomingRecord, Rules, ingest_batch

logger = logging.getLogger(__name__)

#: ingest outcome → SyncRun counter.
OUTCOME_COUNTS = {
    "created": "created",
    "updated": "updated",
    "unchanged": "unchanged",
    "skipped_unchanged_payload": "unchanged",
    "conflict": "conflicts",
    "duplicate_suspect": "duplicates",
    "failed": "failed",
}
FAILED = "failed"
CHUNK = 500
#: Longest source key the failure queue holds (its ``source_key`` and ``fingerprint`` columns).
FAILURE_KEY_LENGTH = SyncFailure._meta.get_field("fingerprint").max_length

Progress = Callable[[SyncRun, Page], None]


class PipelineConfigError(ConnectorError):
    """The source/domain cannot be pulled as configured (no mapping, no connection, a bad field map)."""


@dataclass
class BatchOutcome:
    """What one batch of raw records became."""

    counts: dict[str, int] = field(default_factory=dict)
    seen_keys: list[str] = field(default_factory=list)
    succeeded_keys: list[str] = field(default_factory=list)
    failures: list[FailedItem] = field(default_factory=list)
    result: BatchResult | None = None


@dataclass
class PullResult:
    run: SyncRun
    plan: DryRunPlan | None = None
    batch: BatchOutcome | None = None
    """What each record became (:func:`ingest_records` only: its one batch)."""


def storable_key(key: str) -> str:
    """A source key as the failure queue can hold it: an over-long one is cut and ends in a hash of the whole.

    The hash keeps two long keys with the same beginning two failures; the full key stays in the payload.
    """
    if len(key) <= FAILURE_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{key[: FAILURE_KEY_LENGTH - 18]}…#{digest}"


# --- one batch: map ▸ ingest ▸ failure queue ----------------------------------------------------
def map_records(
    mapper: Mapper, records: Iterable[dict[str, Any]], spec: FetchSpec | None = None
) -> tuple[list[IncomingRecord], list[FailedItem]]:
    """Raw source records → ingest input; a record that cannot be mapped becomes a ``map`` failure.

    A key twice in one batch: its later version (the source's newer state) wins, whether it maps
    or not, so a stale earlier version can neither be written nor resolve the later one's failure.
    """
    observed_path = spec.cursor_field if spec is not None and spec.cursor_type == "timestamp" else None
    latest: dict[str, IncomingRecord | FailedItem] = {}
    keyless: list[FailedItem] = []
    for raw in records:
        try:
            mapped = mapper.map(raw)
        except MappingError as exc:
            key = dig(raw, mapper.key_path)
            source_key = str(key) if isinstance(key, str | int) and key != "" else ""
            item = FailedItem(FailureStage.MAP, storable_key(source_key), exc.message, raw, exc.as_errors())
            if source_key:
                latest.pop(source_key, None)
                latest[source_key] = item
            else:
                keyless.append(item)
            continue
        observed = parse_timestamp(dig(raw, observed_path)) if observed_path else None
        latest.pop(mapped.source_key, None)
        latest[mapped.source_key] = IncomingRecord(
            source_key=mapped.source_key,
            values=mapped.values,
            payload=raw,
            attributes=mapped.attributes,
            observed_at=observed,
        )
    incoming = [entry for entry in latest.values() if isinstance(entry, IncomingRecord)]
    failed = [entry for entry in latest.values() if isinstance(entry, FailedItem)]
    return incoming, failed + keyless


def process_records(
    source: SourceSystem,
    domain: str,
    mapping: Mapping,
    mapper: Mapper,
    records: list[dict[str, Any]],
    *,
    run: SyncRun | None = None,
    dry_run: bool = False,
    spec: FetchSpec | None = None,
    user: Any = None,
    rules: Rules | None = None,
) -> BatchOutcome:
    """Map and ingest one batch and keep the failure queue in step; the caller owns the transaction.

    ``user``: the account a source posted with (the ingest endpoint), named in history; None for pulls.
    ``rules``: those the whole run applies (read once per pull); the current ones when None.
    """
    incoming, failed = map_records(mapper, records, spec)
    result = ingest_batch(
        source,
        registry.get(domain),
        incoming,
        dry_run=dry_run,
        auto_link_score=mapping.auto_link_score,
        reason=f"sync run #{run.pk}" if run is not None and run.pk else f"sync from {source.code}",
        user=user,
        rules=rules,
    )
    payloads = {record.source_key: record.payload for record in incoming}
    mapped = {record.source_key: record.values for record in incoming}  # they name a failure's owner
    outcome = BatchOutcome(result=result, failures=failed)
    outcome.counts = {"fetched": len(records), FAILED: len(failed)}
    for item in result.outcomes:
        name = OUTCOME_COUNTS.get(item.outcome)
        if name is None:
            raise ValueError(f"ingest_batch returned an unknown outcome {item.outcome!r}")
        outcome.counts[name] = outcome.counts.get(name, 0) + 1
        if item.outcome == FAILED:
            errors = item.errors or {}
            stage = item.stage if item.stage in FailureStage.values else FailureStage.VALIDATE
            outcome.failures.append(
                FailedItem(
                    stage,
                    storable_key(item.source_key),
                    failures.summarise(errors),
                    payloads.get(item.source_key),
                    errors,
                    values=mapped.get(item.source_key) or {},
                )
            )
        else:
            outcome.succeeded_keys.append(item.source_key)
    outcome.seen_keys = [*payloads, *(item.source_key for item in failed if item.source_key)]
    if not dry_run:
        failures.record_failures(source, domain, outcome.failures, run)
        failures.resolve_succeeded(source, domain, outcome.succeeded_keys)
        # A record that went through has its link written active (or was skipped, its link being active):
        # only those that failed may still have a link flagged vanished.
        failed_keys = {item.source_key for item in result.outcomes if item.outcome == FAILED}
        through = set(outcome.succeeded_keys) - failed_keys
        _reappeared(source, domain, [key for key in outcome.seen_keys if key not in through])
    return outcome


def _reappeared(source: SourceSystem, domain: str, keys: list[str]) -> None:
    """A record a full run had flagged vanished is back in the source: its link is active again."""
    for start in range(0, len(keys), CHUNK):
        SourceLink.objects.filter(
            source=source, domain=domain, status=LinkStatus.VANISHED, source_key__in=keys[start : start + CHUNK]
        ).update(status=LinkStatus.ACTIVE, updated_at=timezone.now())


def flag_vanished(source: SourceSystem, domain: str, seen: set[str], *, dry_run: bool = False) -> int:
    """After a complete full read: links whose source record was not seen are flagged, never deleted."""
    links = SourceLink.objects.filter(source=source, domain=domain, status=LinkStatus.ACTIVE)
    gone = [pk for pk, key in links.values_list("pk", "source_key").iterator(chunk_size=5000) if key not in seen]
    if not dry_run:
        now = timezone.now()
        for start in range(0, len(gone), CHUNK):
            SourceLink.objects.filter(pk__in=gone[start : start + CHUNK]).update(
                status=LinkStatus.VANISHED, updated_at=now
            )
    return len(gone)


# --- a pull -------------------------------------------------------------------------------------
def load_mapping(source: SourceSystem, domain: str, mapping: Mapping | None = None) -> Mapping:
    """The source/domain's active mapping; ``mapping``: the one the caller read already (checked alike)."""
    if domain not in registry:
        raise LookupError(f"Unknown domain {domain!r}; known: {', '.join(d.name for d in registry)}.")
    if not source.is_active:
        raise PipelineConfigError(f"The source system {source.code} is inactive.")
    if mapping is not None and mapping.source_id == source.pk and mapping.domain == domain:
        mapping.source = source
    else:
        mapping = Mapping.objects.select_related("source").filter(source=source, domain=domain).first()
    if mapping is None:
        raise PipelineConfigError(f"{source.code} has no mapping for {domain}.")
    if not mapping.is_active:
        raise PipelineConfigError(f"The mapping {mapping} is inactive.")
    return mapping


def _source(source: SourceSystem | int | str) -> SourceSystem:
    if isinstance(source, SourceSystem):
        return source
    if isinstance(source, int):
        return SourceSystem.objects.get(pk=source)
    return SourceSystem.objects.get(code=source)


class _Pull:
    """The state of one running pull (one instance per run)."""

    def __init__(
        self,
        source: SourceSystem,
        domain: str,
        run: SyncRun,
        state: SyncState,
        *,
        full: bool,
        dry_run: bool,
        user: Any = None,
    ) -> None:
        self.source, self.domain, self.run, self.state = source, domain, run, state
        self.full, self.dry_run, self.user = full, dry_run, user
        self.plan = DryRunPlan() if dry_run else None
        self.seen: set[str] = set()
        self.page_failed = False
        self._rules: Rules | None = None

    @property
    def rules(self) -> Rules:
        """The survivorship and quality rules of the run: read with its first page, applied to every page."""
        if self._rules is None:
            self._rules = Rules.load(registry.get(self.domain))
        return self._rules

    def execute(self, lease: locks.Lease | None, progress: Progress | None) -> None:
        mapping = load_mapping(self.source, self.domain)
        connection = getattr(self.source, "connection", None)
        if connection is None:
            raise PipelineConfigError(f"{self.source.code} has no connection.")
        spec = mapping.spec()
        try:
            mapper = mapping.mapper()
        except MappingConfigError as exc:
            raise PipelineConfigError(f"The mapping {mapping} is invalid: {exc}") from exc
        cursor = None if self.full else Cursor.from_dict(self.state.cursor)
        with get_connector(connection) as connector:
            try:
                for page in read_ahead(connector.fetch(spec, cursor)):  # the next page comes meanwhile
                    if lease is not None:
                        lease.refresh()  # still ours? then nobody else writes this page meanwhile
                    self.page(mapping, mapper, spec, page)
                    if progress is not None:
                        progress(self.run, page)
            except PayloadError as exc:
                self.page_failed = True
                self.fetch_failure(exc)

    def page(
        self, mapping: Mapping, mapper: Mapper, spec: FetchSpec, page: Page, *, last: bool = False
    ) -> BatchOutcome:
        """One page in its transaction; ``last``: the run ends with it (its status is saved with the page's counts)."""
        if self.dry_run:
            outcome = process_records(
                self.source, self.domain, mapping, mapper, page.records,
                dry_run=True, spec=spec, user=self.user, rules=self.rules,
            )  # fmt: skip
            self.plan.add(outcome.result, outcome.failures)
            self.count(outcome, page)
        else:
            with transaction.atomic():
                outcome = process_records(
                    self.source, self.domain, mapping, mapper, page.records,
                    run=self.run, spec=spec, user=self.user, rules=self.rules,
                )  # fmt: skip
                if page.cursor is not None:
                    self.state.cursor = page.cursor.to_dict()
                    self.state.save(update_fields=["cursor", "updated_at"])
                self.count(outcome, page)
                ended = ["status", "finished_at"] if last else []
                if last:
                    self.run.status = SyncRunStatus.PARTIAL if self.run.failed else SyncRunStatus.SUCCEEDED
                    self.run.finished_at = timezone.now()
                self.run.save(update_fields=["pages", "cursor_after", *RUN_COUNTS, *ended])
        if self.full:
            self.seen.update(outcome.seen_keys)
        return outcome

    def count(self, outcome: BatchOutcome, page: Page) -> None:
        for name, number in outcome.counts.items():
            setattr(self.run, name, getattr(self.run, name) + number)
        self.run.pages += 1
        self.run.cursor_after = page.cursor.to_dict() if page.cursor is not None else self.run.cursor_after

    def fetch_failure(self, exc: PayloadError) -> None:
        """The malformed page goes to the failure queue whole; the cursor stays before it."""
        message = exc.message + (f" ({exc.url})" if exc.url else "")
        item = FailedItem(FailureStage.FETCH, "", message, {"url": exc.url, "status": exc.status}, {}, exc.raw)
        if self.dry_run:
            self.plan.failures.append(item)
        else:
            failures.record_failures(self.source, self.domain, [item], self.run)
        self.run.error = f"A page could not be read: {message}"

    def finish(self) -> None:
        """A read that reached the end: reconcile (full runs), close the fetch failure, set the status."""
        completed = not self.page_failed
        failed = self.page_failed or self.run.failed > 0
        self.run.status = SyncRunStatus.PARTIAL if failed else SyncRunStatus.SUCCEEDED
        self.run.finished_at = timezone.now()
        with transaction.atomic():
            if completed and self.full:
                self.run.vanished = flag_vanished(self.source, self.domain, self.seen, dry_run=self.dry_run)
            if self.dry_run:
                self.plan.vanished = self.run.vanished if self.full and completed else None
                return
            if completed:
                failures.resolve_page_failure(self.source, self.domain)
                self.state.last_success_at = self.run.finished_at
                if self.full:
                    self.state.last_full_at = self.run.finished_at
                self.state.save(update_fields=["last_success_at", "last_full_at", "updated_at"])
            self.run.save()
        self.ended()

    def fail(self, message: str) -> None:
        self.run.status = SyncRunStatus.FAILED
        self.run.error = message[:10_000]
        self.run.finished_at = timezone.now()
        if not self.dry_run:
            self.run.refresh_from_db(fields=["pages", "cursor_after", *RUN_COUNTS])  # what really committed
            self.run.save(update_fields=["status", "error", "finished_at"])
            self.ended()

    def ended(self) -> None:
        """A run that ended is what alerts watch: a source failing again and again, a filling failure queue."""
        if not self.dry_run and self.run.pk:
            alerts.run_finished(self.run)


def pull(
    source: SourceSystem | int | str,
    domain: str,
    *,
    full: bool = False,
    dry_run: bool = False,
    trigger: str = SyncTrigger.MANUAL,
    task_id: str = "",
    progress: Progress | None = None,
) -> PullResult:
    """Pull one source/domain now; raises :class:`~connectors.services.locks.PullLocked` when one runs.

    ``full`` reads everything (not from the cursor) and flags links whose record vanished;
    ``dry_run`` reads and plans but writes nothing (no run, no cursor, no failures, no lock).
    """
    source = _source(source)
    if domain not in registry:
        raise LookupError(f"Unknown domain {domain!r}.")
    if dry_run:
        state = SyncState.objects.filter(source=source, domain=domain).first() or SyncState(
            source=source, domain=domain
        )
        run = SyncRun(source=source, domain=domain, trigger=trigger, full=full, cursor_before=state.cursor)
        return _run(_Pull(source, domain, run, state, full=full, dry_run=True), None, progress)
    with locks.pull_lock(source.pk, domain) as lease:
        state = locks.ensure_state(source.pk, domain)
        SyncRun.objects.filter(source=source, domain=domain, status=SyncRunStatus.RUNNING).update(
            status=SyncRunStatus.FAILED,
            finished_at=timezone.now(),
            error="Interrupted: the process running it stopped before it finished.",
        )
        run = SyncRun.objects.create(
            source=source, domain=domain, trigger=trigger, full=full, task_id=task_id or "", cursor_before=state.cursor
        )
        return _run(_Pull(source, domain, run, state, full=full, dry_run=False), lease, progress)


def _run(job: _Pull, lease: locks.Lease | None, progress: Progress | None) -> PullResult:
    try:
        job.execute(lease, progress)
    except TransientError as exc:
        job.fail(f"The source is unavailable for now ({type(exc).__name__}): {exc}")
        raise
    except (ConnectorError, LookupError) as exc:  # credentials, configuration, a 4xx of the source
        job.fail(f"{type(exc).__name__}: {exc}")
        return PullResult(job.run, job.plan)
    except locks.LockLost as exc:  # another pull took over; what committed stays, it goes on from there
        job.fail(f"Stopped: {exc}.")
        return PullResult(job.run, job.plan)
    except Exception as exc:
        logger.exception("sync run %s of %s · %s stopped", job.run.pk, job.source.code, job.domain)
        job.fail(f"Stopped by an unexpected error ({type(exc).__name__}): {exc}")
        raise
    job.finish()
    return PullResult(job.run, job.plan)


# --- the failure queue's retry, and records a source pushes -------------------------------------
def retry_failures(failure_ids: Iterable[int]) -> dict[str, int]:
    """Put open record failures through map ▸ ingest again, per source/domain under its pull lock.

    Those that go through are resolved; those that fail again count an attempt on the same row.
    Fetch failures are not retried here: the next pull reads their page again.
    """
    queryset = SyncFailure.objects.filter(pk__in=list(failure_ids), status=FailureStatus.OPEN).exclude(
        stage=FailureStage.FETCH
    )
    groups: dict[tuple[int, str], list[SyncFailure]] = {}
    for failure in queryset.select_related("source").order_by("id"):
        groups.setdefault((failure.source_id, failure.domain), []).append(failure)
    totals = {"retried": 0, "resolved": 0, "failed": 0, "locked": 0}
    for (source_id, domain), group in groups.items():
        source = group[0].source
        try:
            with locks.pull_lock(source_id, domain):
                mapping = load_mapping(source, domain)
                with transaction.atomic():
                    outcome = process_records(
                        source, domain, mapping, mapping.mapper(), [f.payload for f in group], spec=mapping.spec()
                    )
        except locks.PullLocked:
            totals["locked"] += len(group)
            continue
        totals["retried"] += len(group)
        totals["failed"] += len(outcome.failures)
        totals["resolved"] += len(group) - len(outcome.failures)
    return totals


def ingest_records(
    source: SourceSystem | int | str,
    domain: str,
    records: list[dict[str, Any]],
    *,
    trigger: str = SyncTrigger.INGEST,
    dry_run: bool = False,
    user: Any = None,
    mapping: Mapping | None = None,
) -> PullResult:
    """Records a source pushes (the ingest endpoint, a file upload): the same map ▸ ingest, as one run.

    ``user`` is the account that posted them (history names it); the result carries each record's outcome.
    ``mapping``: the source/domain's mapping when the caller has read it already (not read again).
    """
    source = _source(source)
    mapping = load_mapping(source, domain, mapping)
    mapper = mapping.mapper()
    run = SyncRun(source=source, domain=domain, trigger=trigger)
    if not dry_run:
        run.save()
    job = _Pull(source, domain, run, SyncState(source=source, domain=domain), full=False, dry_run=dry_run, user=user)
    page = Page(records=list(records), cursor=None, last=True)
    try:
        outcome = job.page(mapping, mapper, mapping.spec(), page, last=True)
    except Exception as exc:
        job.fail(f"Stopped by an unexpected error ({type(exc).__name__}): {exc}")
        raise
    job.run.status = SyncRunStatus.PARTIAL if job.run.failed else SyncRunStatus.SUCCEEDED
    if dry_run:
        job.run.finished_at = timezone.now()
    else:
        job.ended()
    return PullResult(job.run, job.plan, outcome)
