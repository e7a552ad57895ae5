"""A steward's decisions on the failure queue: retry, discard, edit and retry, pause or resume a target.

Every decision needs a reason and is audited on the item it concerns, in Django's admin log
(``LogEntry``: who, when, what, why — and what came of it), so the failure's page shows its
whole story next to the admin's own history. The decisions themselves are the queue's
services: inbound failures go through map ▸ ingest again (:func:`pipeline.retry_failures`),
parked pushes are delivered again (:func:`push.retry_dead_letters`), parked webhook batches
are sent again (:func:`webhooks.retry_dead_batches`). A user only decides on the failures
within their scope (:func:`failures.decidable`); the rest of a selection is left alone and
counted as skipped.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from connectors.errors import ConnectorError
from connectors.models import FailureDirection, FailureStage, FailureStatus, Mapping, PushTarget, SyncFailure
from connectors.services import failures
from connectors.services.mapping import normalise_field_map

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

#: Up to this many parked pushes are sent during the request; more are queued for the workers.
SEND_NOW_LIMIT = 200
#: Stages whose payload is one source record a steward can correct.
EDITABLE_STAGES = (FailureStage.MAP, FailureStage.VALIDATE, FailureStage.MATCH, FailureStage.WRITE)

WENT_THROUGH = "went through"
QUEUED = "queued for delivery"
FAILED_AGAIN = "failed again"
SKIPPED_LOCKED = "skipped: a pull of this source was running, try again shortly"
SKIPPED_FETCH = "not retried: the next pull reads the page again"


class DecisionError(ValueError):
    """A decision the queue refuses (no reason given, a failure that cannot be edited…)."""


@dataclass
class DecisionReport:
    """What a decision did, per failure id, plus the ids outside the user's scope or already closed."""

    outcomes: dict[int, str] = field(default_factory=dict)
    skipped: int = 0

    def summary(self) -> Counter:
        return Counter(outcome.split(":")[0] for outcome in self.outcomes.values())


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DecisionError("Say why: every decision on the failure queue is kept with its reason.")
    return reason[:1000]


def _audit(user: AbstractBaseUser, objects: Iterable[Any], message_of) -> None:
    """One admin-log entry per object, written in bulk."""
    objects = list(objects)
    if not objects:
        return
    content_type = ContentType.objects.get_for_model(objects[0], for_concrete_model=False)
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                user_id=user.pk,
                content_type_id=content_type.pk,
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                action_flag=CHANGE,
                change_message=message_of(obj)[:10_000],
            )
            for obj in objects
        ]
    )


def history(failure: SyncFailure) -> list[LogEntry]:
    """The decisions taken on a failure, and on its push target, newest first."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(SyncFailure), object_id=str(failure.pk)
    )
    if failure.push_target_id:
        entries = entries | LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(PushTarget), object_id=str(failure.push_target_id)
        )
    return list(entries.select_related("user", "content_type").order_by("-action_time", "-id"))


# --- retry ------------------------------------------------------------------------------------------
def retry(user: AbstractBaseUser, failure_ids: Iterable[int], reason: str) -> DecisionReport:
    """Retry open failures in the user's scope; each keeps an audit entry with its outcome."""
    reason = _reason(reason)
    ids = list(failure_ids)
    chosen = list(
        failures.decidable(user, SyncFailure.objects.filter(pk__in=ids, status=FailureStatus.OPEN))
        .select_related("source")
        .order_by("id")
    )
    report = DecisionReport(skipped=len(set(ids)) - len(chosen))
    before = {failure.pk: failure.attempts for failure in chosen}
    inbound: dict[tuple[int | None, str], list[int]] = {}
    pushes, batches = [], []
    for failure in chosen:
        if failure.stage == FailureStage.FETCH:
            report.outcomes[failure.pk] = SKIPPED_FETCH
        elif failure.stage == FailureStage.WEBHOOK:
            batches.append(failure.pk)
        elif failure.direction == FailureDirection.OUTBOUND:
            pushes.append(failure.pk)
        else:
            inbound.setdefault((failure.source_id, failure.domain), []).append(failure.pk)
    errors = _retry_inbound(inbound) | _retry_outbound(pushes, batches)
    report.outcomes.update(_outcomes(before, report.outcomes, errors))
    bulk = f" (one of {len(chosen)} retried together)" if len(chosen) > 1 else ""
    _audit(user, chosen, lambda f: f"Retried{bulk}. Why: {reason}. Outcome: {report.outcomes[f.pk]}.")
    return report


def _retry_inbound(groups: dict[tuple[int | None, str], list[int]]) -> dict[int, str]:
    """map ▸ ingest again per source/domain; a group whose mapping no longer works reports why."""
    from connectors.services import pipeline

    errors: dict[int, str] = {}
    for ids in groups.values():
        try:
            totals = pipeline.retry_failures(ids)
        except (ConnectorError, LookupError) as exc:
            errors.update(dict.fromkeys(ids, f"could not retry: {exc}"))
            continue
        if totals["locked"]:
            errors.update(dict.fromkeys(ids, SKIPPED_LOCKED))
    return errors


def _retry_outbound(pushes: list[int], batches: list[int]) -> dict[int, str]:
    from connectors.services import push, webhooks

    errors: dict[int, str] = {}
    if pushes:
        send = len(pushes) <= SEND_NOW_LIMIT
        push.retry_dead_letters(pushes, send=send)
        if not send:
            errors.update(dict.fromkeys(pushes, QUEUED))
    if batches:
        webhooks.retry_dead_batches(batches)
    return errors


def _outcomes(before: dict[int, int], decided: dict[int, str], errors: dict[int, str]) -> dict[int, str]:
    """Each retried failure's outcome, read back from the queue in one query."""
    outcomes = {}
    rows = SyncFailure.objects.filter(pk__in=list(before)).values_list("pk", "status", "attempts", "error")
    for pk, status, attempts, error in rows:
        if pk in decided:
            continue
        if pk in errors:
            outcomes[pk] = errors[pk]
        elif status != FailureStatus.OPEN:
            outcomes[pk] = WENT_THROUGH
        elif attempts > before[pk]:
            outcomes[pk] = f"{FAILED_AGAIN}: {error}"
        else:
            outcomes[pk] = QUEUED
    return outcomes


# --- discard ----------------------------------------------------------------------------------------
def discard(user: AbstractBaseUser, failure_ids: Iterable[int], reason: str) -> DecisionReport:
    """Give up on open failures in the user's scope (the source will be corrected, the record is obsolete…)."""
    reason = _reason(reason)
    ids = list(failure_ids)
    with transaction.atomic():
        chosen = list(failures.decidable(user, SyncFailure.objects.filter(pk__in=ids, status=FailureStatus.OPEN)))
        failures.discard([f.pk for f in chosen], user=user, note=reason)
        bulk = f" (one of {len(chosen)} discarded together)" if len(chosen) > 1 else ""
        _audit(user, chosen, lambda f: f"Discarded{bulk}. Why: {reason}.")
    outcomes = dict.fromkeys((f.pk for f in chosen), "discarded")
    return DecisionReport(outcomes=outcomes, skipped=len(set(ids)) - len(chosen))


# --- edit and retry ---------------------------------------------------------------------------------
@dataclass
class EditableValue:
    """One source value a mapping entry reads, as a steward corrects it."""

    path: str
    target: str
    value: Any
    sensitive: bool
    errors: list[str]

    @property
    def text(self) -> str:
        """The value in an input box: text as it is, anything else as JSON."""
        if self.value is None:
            return ""
        return self.value if isinstance(self.value, str) else json.dumps(self.value, ensure_ascii=False)


def can_edit(failure: SyncFailure) -> bool:
    """Only an inbound record (not a page, not a push) has source values to correct."""
    return (
        failure.status == FailureStatus.OPEN
        and failure.direction == FailureDirection.INBOUND
        and failure.stage in EDITABLE_STAGES
        and isinstance(failure.payload, dict)
    )


def editable_values(failure: SyncFailure) -> list[EditableValue]:
    """The source values the failure's mapping reads, with the errors of the golden field each feeds."""
    from connectors.protocols.base import dig

    mapping = Mapping.objects.filter(source_id=failure.source_id, domain=failure.domain).first()
    if mapping is None or not can_edit(failure):
        return []
    hidden = failures.sensitive_paths(failure)
    values = []
    for entry in normalise_field_map(mapping.field_map) or ():
        if not isinstance(entry, dict) or "constant" in entry:
            continue
        target = str(entry.get("target", ""))
        paths = [entry["source"]] if "source" in entry else list(entry.get("concat") or [])
        for path in paths:
            messages = [str(m) for m in (failure.errors or {}).get(target, [])]
            values.append(EditableValue(path, target, dig(failure.payload, path), path in hidden, messages))
    return values


def _parse(text: str, original: Any) -> Any:
    """What a steward typed, as the source would have sent it: text stays text, other values are JSON."""
    if isinstance(original, str):
        return text
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _put(payload: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` where :func:`connectors.protocols.base.dig` reads ``path`` (whole dotted keys first)."""
    node = payload
    while path not in node and "." in path:
        head, path = path.split(".", 1)
        node = node.setdefault(head, {})
        if not isinstance(node, dict):
            raise DecisionError(f"{head!r} of the payload is not an object.")
    node[path] = value


def edit_and_retry(
    user: AbstractBaseUser, failure: SyncFailure, corrections: dict[str, str], reason: str
) -> DecisionReport:
    """Correct source values of a refused record, then put it through map ▸ ingest again.

    ``corrections`` maps source paths (of :func:`editable_values`) to the typed text; a sensitive
    value left empty stays as it was. The corrected payload replaces the stored one, so a later
    retry uses it too; the audit entry lists what changed (sensitive values masked).
    """
    reason = _reason(reason)
    if not failures.may_decide(user, failure):
        raise DecisionError("This failure is outside your scope.")
    if not can_edit(failure):
        raise DecisionError("Only an open inbound record failure can be edited.")
    payload = copy.deepcopy(failure.payload)
    changes = []
    for item in editable_values(failure):
        if item.path not in corrections:
            continue
        text = corrections[item.path]
        if item.sensitive and text == "":
            continue
        value = _parse(text, item.value)
        if value != item.value:
            _put(payload, item.path, value)
            shown = (failures.MASK, failures.MASK) if item.sensitive else (item.value, value)
            changes.append(f"{item.path} ({item.target}): {shown[0]!r} → {shown[1]!r}")
    if not changes:
        raise DecisionError("Nothing was changed: correct at least one value, or retry the record as it is.")
    SyncFailure.objects.filter(pk=failure.pk).update(payload=payload)
    before = {failure.pk: failure.attempts}
    errors = _retry_inbound({(failure.source_id, failure.domain): [failure.pk]})
    report = DecisionReport(outcomes=_outcomes(before, {}, errors))
    _audit(
        user,
        [failure],
        lambda f: f"Edited and retried: {'; '.join(changes)}. Why: {reason}. Outcome: {report.outcomes[f.pk]}.",
    )
    return report


# --- push targets -----------------------------------------------------------------------------------
def pause_target(user: AbstractBaseUser, target: PushTarget, reason: str) -> PushTarget:
    """Stop pushing to a target (its changes keep queueing); audited on the target."""
    from connectors.services import dispatch

    reason = _reason(reason)
    with transaction.atomic():
        dispatch.pause(target, reason)
        _audit(user, [target], lambda t: f"Paused pushing to {t}. Why: {reason}.")
    return target


def resume_target(user: AbstractBaseUser, target: PushTarget, reason: str) -> PushTarget:
    """Push to the target again: what queued meanwhile goes out coalesced per record."""
    from connectors.services import dispatch

    reason = _reason(reason)
    with transaction.atomic():
        dispatch.resume(target)
        _audit(user, [target], lambda t: f"Resumed pushing to {t}. Why: {reason}.")
    return target


def may_control_target(user: AbstractBaseUser) -> bool:
    """Pausing a target stops every record's push to it: a group-wide decision."""
    return failures.may_decide_all(user) or bool(
        getattr(user, "is_active", False) and user.has_perm("connectors.change_pushtarget")
    )
