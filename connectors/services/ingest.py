"""Real-time inbound: a source posts records to ``/api/v1/ingest/<source>/<domain>/``.

The records arrive in the source's own shape and go through the very pipeline a pull uses
(:func:`connectors.services.pipeline.ingest_records`: its mapping ▸ validate ▸ match ▸
survivorship ▸ write, one sync run, bad records to the failure queue). What this module adds is
what an HTTP caller needs:

* **who may post**: the permission ``connectors.ingest_mapping`` — on the model for every
  source/domain, or as an object permission on one mapping for that source/domain only;
* **exactly once**: every request carries an ``Idempotency-Key``. The key row is inserted in
  the transaction that writes the records, so both commit or neither does; a retry with the
  same key gets the first answer back and writes nothing, and a request racing the first one
  waits on the key's unique index until the first has committed, then replays it. The same key
  with a different body is refused (422), as the IETF ``Idempotency-Key`` header draft says.
  Keys are scoped per user, source and domain and kept ``MDM_INGEST_KEY_DAYS`` days;
* **an answer per record**, in the order posted: golden id, outcome and errors.

Requests refused before any record is processed (a missing key, a malformed batch, a source
that does not accept records) are not remembered: fix the request and send it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.models import IdempotencyKey, Mapping, SyncTrigger
from connectors.models.ingest import KEY_MAX_LENGTH
from connectors.protocols.base import dig
from connectors.services import pipeline
from connectors.services.failures import FailedItem
from connectors.services.mapping import MappingConfigError
from masterdata.models import SourceDomain, SourceLink, SourceSystem
from masterdata.registry import registry

logger = logging.getLogger(__name__)

PERMISSION = "connectors.ingest_mapping"
DEFAULT_MAX_RECORDS = 1000
DEFAULT_KEY_DAYS = 7
#: Ingest outcomes as the endpoint reports them (an unchanged payload is simply unchanged).
OUTCOMES = {
    "created": "created",
    "updated": "updated",
    "unchanged": "unchanged",
    "skipped_unchanged_payload": "unchanged",
    "conflict": "conflict",
    "duplicate_suspect": "duplicate_suspect",
    "failed": "failed",
}
SUPERSEDED = "superseded"
COUNTED = ("created", "updated", "unchanged", "conflict", "duplicate_suspect", SUPERSEDED, "failed")


class IngestRefused(Exception):
    """The request cannot be taken as it is; ``status`` and ``code`` say why to the HTTP caller."""

    def __init__(self, status: int, code: str, detail: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass
class IngestAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass
class Target:
    """The source/domain a request names, and its mapping when there is one."""

    source: SourceSystem
    domain: str
    mapping: Mapping | None = None
    participation: SourceDomain | None = None


def max_records() -> int:
    return int(getattr(settings, "MDM_INGEST_MAX_RECORDS", DEFAULT_MAX_RECORDS))


def key_retention() -> timedelta:
    return timedelta(days=int(getattr(settings, "MDM_INGEST_KEY_DAYS", DEFAULT_KEY_DAYS)))


# --- the checks, in the order the endpoint makes them ---------------------------------------------
def resolve(source_code: str, domain_name: str) -> Target:
    """The source and domain of the URL (the domain by name, ``customer``, or API path, ``customers``).

    The mapping is read with its source (one query): the source alone is read only when there is no mapping.
    """
    domain = next((d.name for d in registry if domain_name in (d.name, d.api_path)), None)
    mapping = None
    if domain is not None:
        mapping = Mapping.objects.select_related("source").filter(source__code=source_code, domain=domain).first()
    source = mapping.source if mapping is not None else SourceSystem.objects.filter(code=source_code).first()
    if source is None:
        raise IngestRefused(404, "unknown_source", f"There is no source system {source_code!r}.")
    if domain is None:
        known = ", ".join(d.name for d in registry)
        raise IngestRefused(404, "unknown_domain", f"There is no domain {domain_name!r}; known: {known}.")
    return Target(source, domain, mapping, SourceDomain.objects.filter(source=source, domain=domain).first())


def authorize(user: Any, target: Target) -> None:
    """Least privilege: the model permission (every source) or an object permission on the mapping."""
    if user.has_perm(PERMISSION) or (target.mapping is not None and user.has_perm(PERMISSION, target.mapping)):
        return
    raise IngestRefused(
        403,
        "permission_denied",
        f"You may not post {target.domain} records as {target.source.code}: "
        f"ask for the permission {PERMISSION!r} on its mapping.",
    )


def check_key(raw: str | None) -> str:
    """The ``Idempotency-Key`` header: 1–255 visible ASCII characters, optionally quoted (RFC 8941 string)."""
    if raw is None or not raw.strip():
        raise IngestRefused(
            400,
            "idempotency_key_missing",
            "The Idempotency-Key header is required: send a unique value (e.g. a UUID) per batch, "
            "and the same value again when you retry that batch.",
        )
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > KEY_MAX_LENGTH or any(not " " <= ch <= "~" for ch in key):
        raise IngestRefused(
            400,
            "idempotency_key_invalid",
            f"The Idempotency-Key must be 1 to {KEY_MAX_LENGTH} visible ASCII characters.",
        )
    return key


def check_batch(body: Any) -> list[dict[str, Any]]:
    """One record (a JSON object) or a batch (a JSON array of objects) within the size limit."""
    if body in ({}, [], None):
        raise IngestRefused(400, "empty_batch", "The request holds no record: send at least one.")
    records = [body] if isinstance(body, dict) else body
    if not isinstance(records, list):
        raise IngestRefused(400, "invalid_body", "Send one record as a JSON object or a batch as a JSON array.")
    limit = max_records()
    if len(records) > limit:
        raise IngestRefused(
            400, "batch_too_large", f"The batch holds {len(records)} records; the limit is {limit}. Split it."
        )
    wrong = {f"[{n}]": ["Each record must be a JSON object."] for n, r in enumerate(records) if not isinstance(r, dict)}
    if wrong:
        raise IngestRefused(400, "invalid_record", f"{len(wrong)} of the records are not JSON objects.", wrong)
    unstorable = "Text must be valid Unicode without NUL characters."
    bad = {f"[{n}]": [unstorable] for n, record in enumerate(records) if _unstorable(record)}
    if bad:  # no database column can keep such text, not even the failure queue's
        raise IngestRefused(400, "invalid_record", f"{len(bad)} of the records hold text no database can keep.", bad)
    return records


def _unstorable(value: Any) -> bool:
    """NUL characters or lone surrogates (``"\\ud800"`` is valid JSON, but not UTF-8) anywhere in a record."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def check_accepting(target: Target) -> Mapping:
    """The source must be active, feed the domain into the hub and have an active, sound mapping."""
    source, domain = target.source, target.domain
    if not source.is_active:
        raise IngestRefused(409, "source_inactive", f"The source system {source.code} is inactive.")
    if target.participation is None or not target.participation.pulls:
        how = "has no part in" if target.participation is None else "only receives (direction push)"
        raise IngestRefused(
            409, "domain_not_inbound", f"{source.code} {how} {domain}: the hub does not take {domain} records from it."
        )
    mapping = target.mapping
    if mapping is None:
        raise IngestRefused(409, "no_mapping", f"{source.code} has no mapping for {domain}.")
    if not mapping.is_active:
        raise IngestRefused(409, "mapping_inactive", f"The mapping {mapping} is inactive.")
    try:
        mapping.mapper()
    except MappingConfigError as exc:
        raise IngestRefused(409, "mapping_invalid", f"The mapping {mapping} is invalid: {exc}") from None
    return mapping


def check_keys(records: list[dict[str, Any]], mapping: Mapping) -> None:
    """A key longer than a source link can hold is refused up front: not even the failure queue could keep it."""
    limit = SourceLink._meta.get_field("source_key").max_length
    long = {
        f"[{n}]": [f"The source key at {mapping.key_path!r} is longer than {limit} characters."]
        for n, record in enumerate(records)
        if len(_source_key(record, mapping.key_path)) > limit
    }
    if long:
        raise IngestRefused(400, "invalid_record", f"{len(long)} of the records have an over-long key.", long)


def request_hash(body: Any) -> str:
    """The body as canonical JSON (key order and whitespace do not count), hashed."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- the request ----------------------------------------------------------------------------------
def ingest(user: Any, source_code: str, domain_name: str, key_header: str | None, body: Any) -> IngestAnswer:
    """Take one request of the ingest endpoint; raises :class:`IngestRefused` for what it refuses."""
    target = resolve(source_code, domain_name)
    authorize(user, target)
    key = check_key(key_header)
    records = check_batch(body)
    digest = request_hash(body)
    with transaction.atomic():
        claimed, earlier = claim(user, target, key, digest)
        if earlier is not None:
            return replay(earlier, digest)
        mapping = check_accepting(target)
        check_keys(records, mapping)
        result = pipeline.ingest_records(
            target.source, target.domain, records, trigger=SyncTrigger.INGEST, user=user, mapping=mapping
        )
        answer = build_answer(target, mapping, records, result)
        claimed.response_status, claimed.response_body = 200, answer
        claimed.save(update_fields=["response_status", "response_body"])
    logger.info(
        "ingest by %s into %s · %s: run %s, %s",
        getattr(user, "username", user),
        target.source.code,
        target.domain,
        answer["run"],
        ", ".join(f"{name} {count}" for name, count in answer["counts"].items() if count),
    )
    return IngestAnswer(200, answer)


def claim(user: Any, target: Target, key: str, digest: str) -> tuple[IdempotencyKey | None, IdempotencyKey | None]:
    """(the new key row, None) — or (None, the committed row of an earlier request with this key).

    An uncommitted row of a concurrent request blocks the insert until that request ends: then
    the insert either fails (it committed: replay its answer) or goes through (it rolled back).
    A key older than the retention is free again: its row is replaced (looked for only when the
    insert meets it, so a new key costs one statement).
    """
    scope = {"user": user, "source": target.source, "domain": target.domain, "key": key}
    try:
        return _insert_key(scope, digest), None
    except IntegrityError:
        earlier = IdempotencyKey.objects.get(**scope)
    expired = timezone.now() - key_retention()
    if earlier.created_at >= expired:
        return None, earlier
    IdempotencyKey.objects.filter(**scope, created_at__lt=expired).delete()
    try:
        return _insert_key(scope, digest), None
    except IntegrityError:
        return None, IdempotencyKey.objects.get(**scope)


def _insert_key(scope: dict[str, Any], digest: str) -> IdempotencyKey:
    with transaction.atomic():
        return IdempotencyKey.objects.create(**scope, request_hash=digest)


def replay(earlier: IdempotencyKey, digest: str) -> IngestAnswer:
    if earlier.request_hash != digest:
        raise IngestRefused(
            422,
            "idempotency_key_reused",
            f"The Idempotency-Key {earlier.key!r} was already used on {earlier.created_at:%Y-%m-%d %H:%M:%S} UTC "
            "for a different request body; use a new key for a new batch.",
        )
    return IngestAnswer(earlier.response_status or 200, earlier.response_body, replayed=True)


def purge_expired_keys() -> int:
    """Delete keys older than the retention (a scheduled task does it daily)."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - key_retention()).delete()
    return deleted


# --- the answer -------------------------------------------------------------------------------------
def build_answer(
    target: Target, mapping: Mapping, records: list[dict[str, Any]], result: pipeline.PullResult
) -> dict[str, Any]:
    """One result per posted record, in the order posted, and the counts.

    A key posted twice in one batch: its last occurrence is ingested, the earlier ones are
    ``superseded`` (and carry the golden id the last one got).
    """
    batch = result.batch
    outcomes = {item.source_key: item for item in batch.result.outcomes} if batch and batch.result else {}
    failures: dict[str, FailedItem] = {}
    keyless: list[FailedItem] = []
    for failure in batch.failures if batch else []:
        if failure.source_key:
            failures[failure.source_key] = failure
        else:
            keyless.append(failure)
    keys = [_source_key(record, mapping.key_path) for record in records]
    last = {key: index for index, key in enumerate(keys) if key}
    results = []
    for index, key in enumerate(keys):
        entry: dict[str, Any] = {"index": index, "source_key": key or None}
        if key and last[key] != index:
            entry.update(outcome=SUPERSEDED, golden_id=_golden_id(outcomes.get(key)))
        elif key and key in failures:
            entry.update(_failed(failures[key], outcomes.get(key)))
        elif key and key in outcomes:
            item = outcomes[key]
            entry.update(
                outcome=OUTCOMES[item.outcome],
                golden_id=item.golden_id,
                changed_fields=list(item.changed_fields),
                conflicts=list(item.conflicts),
            )
        else:
            entry.update(_failed(keyless.pop(0), None))
        results.append(entry)
    counts = dict.fromkeys(COUNTED, 0)
    for entry in results:
        counts[entry["outcome"]] += 1
    return {
        "source": target.source.code,
        "domain": target.domain,
        "run": result.run.pk,
        "received": len(records),
        "counts": counts,
        "results": results,
    }


def _source_key(record: dict[str, Any], key_path: str) -> str:
    """The record's key as the mapper reads it (any value but none, blank, an object or a list)."""
    key = dig(record, key_path)
    return "" if key is None or key == "" or isinstance(key, dict | list) else str(key)


def _golden_id(item: Any) -> int | None:
    return getattr(item, "golden_id", None)


def _failed(failure: FailedItem, item: Any) -> dict[str, Any]:
    return {
        "outcome": "failed",
        "golden_id": _golden_id(item),
        "stage": failure.stage,
        "error": failure.error,
        "errors": failure.errors or {},
    }
