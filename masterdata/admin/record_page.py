"""The record page of a golden record: everything a steward needs about it on one screen.

Golden values with per-field provenance and locks (lock/unlock with a reason), source links
with their last payloads, open conflicts and sync failures, records merged into it, and the
history with a field-level diff between any two versions and a revert (simple-history's
version page, which here asks for a reason).

Mixed into :class:`masterdata.admin.golden.GoldenRecordAdmin`, so every domain has it.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from masterdata.models import Conflict, GoldenRecord, MergeRecord, SourceLink
from masterdata.services import conflicts, golden, history, stewardship

from .sensitive import reveal_on_screen
from .worklist import HIDDEN_VALUE, age, shown

#: Versions listed on the record page (the full list is on the history page).
RECENT_VERSIONS = 50
LOCK, UNLOCK = "lock", "unlock"


class LockForm(forms.Form):
    field = forms.ChoiceField()
    action = forms.ChoiceField(choices=[(LOCK, "Lock"), (UNLOCK, "Unlock")])
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))

    def __init__(self, *args: Any, fields: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [(name, name) for name in fields]

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Give a reason.")
        return reason


class RecordPageMixin:
    """Adds the record page, the version diff and field locks to a golden-record admin."""

    change_form_template = "admin/golden/change_form.html"

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        wrap = self.admin_site.admin_view
        own = [
            path("<path:object_id>/record/", wrap(self.record_view), name=f"{prefix}_record"),
            path("<path:object_id>/record/diff/", wrap(self.diff_view), name=f"{prefix}_diff"),
            path("<path:object_id>/record/lock/", wrap(require_POST(self.lock_view)), name=f"{prefix}_lock"),
        ]
        return own + super().get_urls()

    def _url(self, view: str, *args: Any) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)

    def _hidden_fields(self, request, record: GoldenRecord, screen: str) -> tuple[set[str], dict[str, bool]]:
        """Sensitive fields stay masked, even for users who may read them, until they press Reveal (audited)."""
        if not self.domain.sensitive_fields:
            return set(), {"may_reveal": False, "revealed": False}
        allowed = self.may_see_sensitive(request, record)
        if reveal_on_screen(request, self.domain, record, allowed=allowed, screen=screen):
            return set(), {"may_reveal": False, "revealed": True}
        return set(self.domain.sensitive_fields), {"may_reveal": allowed, "revealed": False}

    def _record_or_redirect(self, request, object_id):
        record = self.get_object(request, unquote(object_id))
        if record is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return record, None

    # --- the page -------------------------------------------------------------------------------
    def record_view(self, request, object_id):
        record, refused = self._record_or_redirect(request, object_id)
        if refused:
            return refused
        hidden, reveal = self._hidden_fields(request, record, "record page")
        links = list(SourceLink.objects.filter(domain=self.domain.name, golden_id=record.pk).select_related("source"))
        open_conflicts = Conflict.objects.filter(domain=self.domain.name, golden_id=record.pk, status="open")
        may_change = self.has_change_permission(request, record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(record),
            "original": record,
            "record": record,
            "values": self._values(record, hidden),
            "links": [{"link": link, "payload": _payload(link, hidden)} for link in links],
            "conflicts": [_conflict_row(c) for c in open_conflicts.order_by("opened_at")],
            "failures": [{"failure": f, "url": _failure_url(f)} for f in stewardship.open_failures(record, links)],
            "merged_in": self._merged_in(record),
            "merges": self._merges(record),
            "survivor_url": self._url("record", record.merged_into_id) if record.merged_into_id else None,
            "versions": self._versions(request, record, hidden),
            "lock_form": LockForm(fields=self.domain.field_names()) if may_change else None,
            "may_change": may_change,
            "change_url": self._url("change", record.pk),
            "history_url": self._url("history", record.pk),
            "diff_url": self._url("diff", record.pk),
            "lock_url": self._url("lock", record.pk),
            **reveal,
        }
        return TemplateResponse(request, "admin/golden/record_page.html", context)

    def _values(self, record: GoldenRecord, hidden: set[str]) -> list[dict[str, Any]]:
        provenance = record.provenance or {}
        locked = set(record.locked_fields or ())
        rows = []
        for name in self.domain.field_names():
            value = HIDDEN_VALUE if name in hidden else shown(stewardship.shown_value(record, name))
            entry = provenance.get(name) or {}
            rows.append({"name": name, "value": value, "locked": name in locked, **_provenance(entry)})
        return rows

    def _merged_in(self, record: GoldenRecord) -> list[dict[str, Any]]:
        rows = self.model._base_manager.filter(merged_into=record).order_by("code")
        return [
            {"record": r, "url": self._url("record", r.pk), "history_url": self._url("history", r.pk)} for r in rows
        ]

    def _merges(self, record: GoldenRecord) -> list[dict[str, Any]]:
        rows = MergeRecord.objects.filter(Q(survivor_id=record.pk) | Q(loser_id=record.pk), domain=self.domain.name)
        return [
            {"merge": m, "url": reverse("admin:masterdata_mergerecord_change", args=[m.pk])}
            for m in rows.select_related("merged_by").order_by("-merged_at")
        ]

    def _versions(self, request, record: GoldenRecord, hidden: set[str]) -> list[dict[str, Any]]:
        rows = list(history.versions(record)[:RECENT_VERSIONS])
        may_revert = self.has_change_permission(request, record)
        return [
            {
                "row": row,
                "changes": [_masked(change, hidden) for change in changes],
                "url": self._url("simple_history", record.pk, row.history_id),
                "may_revert": may_revert and index > 0,
            }
            for index, (row, changes) in enumerate(history.with_changes(rows))
        ]

    # --- diff between two versions --------------------------------------------------------------
    def diff_view(self, request, object_id):
        record, refused = self._record_or_redirect(request, object_id)
        if refused:
            return refused
        ids = [request.GET.get("from", ""), request.GET.get("to", "")]
        if not all(i.isdigit() for i in ids):
            raise Http404("Choose two versions to compare.")
        rows = {r.history_id: r for r in history.versions(record).filter(history_id__in=[int(i) for i in ids])}
        if len(rows) != len(set(ids)):
            raise Http404("No such version of this record.")
        older, newer = sorted((rows[int(i)] for i in ids), key=lambda r: r.history_id)
        hidden, reveal = self._hidden_fields(request, record, "version diff")
        fields = self._diff_rows(older, newer, hidden)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{record}: version {older.version} ↔ version {newer.version}",
            "original": record,
            "record": record,
            "older": older,
            "newer": newer,
            "fields": fields,
            "changed_count": sum(1 for f in fields if f["changed"]),
            "only_changed": request.GET.get("changed") == "1",
            "record_url": self._url("record", record.pk),
            "revert_url": self._url("simple_history", record.pk, older.history_id),
            "may_revert": self.has_change_permission(request, record),
            **reveal,
        }
        return TemplateResponse(request, "admin/golden/version_diff.html", context)

    def _diff_rows(self, older, newer, hidden: set[str]) -> list[dict[str, Any]]:
        """Every compared field of two versions, foreign keys by code, marked where they differ."""
        pairs = [
            {"field": f.name, "old": getattr(older, f.attname), "new": getattr(newer, f.attname)}
            for f in self.model._meta.concrete_fields
            if f.name not in history.NOT_A_CHANGE
        ]
        changed = {p["field"] for p in pairs if p["old"] != p["new"]}
        history._foreign_keys_by_code(self.model, pairs)  # the history page's own translation of ids to codes
        return [
            {**_masked(p, hidden), "changed": p["field"] in changed, "old": _shown_masked(p, "old", hidden),
             "new": _shown_masked(p, "new", hidden)}
            for p in pairs
        ]  # fmt: skip

    # --- locks ----------------------------------------------------------------------------------
    def lock_view(self, request, object_id):
        record, refused = self._record_or_redirect(request, object_id)
        if refused:
            return refused
        if not self.has_change_permission(request, record):
            raise PermissionDenied
        form = LockForm(request.POST, fields=self.domain.field_names())
        back = HttpResponseRedirect(self._url("record", record.pk))
        if not form.is_valid():
            errors = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
            self.message_user(request, f"Nothing was changed: {errors}", messages.ERROR)
            return back
        name, action, reason = (form.cleaned_data[k] for k in ("field", "action", "reason"))
        service = conflicts.lock_field if action == LOCK else conflicts.unlock_field
        try:
            service(record, name, request.user, reason)
        except (golden.GoldenRecordError, ValidationError) as exc:
            self.message_user(request, f"Nothing was changed: {getattr(exc, 'message', exc)}", messages.ERROR)
            return back
        verb = "Locked" if action == LOCK else "Unlocked"
        self.log_change(request, record, f"{verb} {name}. Reason: {reason}")
        self.message_user(request, f"{verb} {name}.", messages.SUCCESS)
        return back

    # --- revert: simple-history's version page, with a required reason ----------------------------
    def history_form_view(self, request, object_id, version_id, extra_context=None):
        request.reverting_to_version = True
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if not getattr(request, "reverting_to_version", False) or obj is None:
            return form
        return type(f"Revert{form.__name__}", (RevertReasonMixin, form), {"reverted_version": obj.version})


class RevertReasonMixin:
    """A revert is a steward decision: it needs a reason, kept in history with the version it restores."""

    reverted_version: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reason = self.fields.get("change_reason")
        if reason is not None:
            reason.required = True
            reason.error_messages = {**reason.error_messages, "required": "Give a reason for the revert."}
            reason.help_text = "Why you revert to this version (required; kept in the record's history)."

    def clean_change_reason(self) -> str:
        reason = (self.cleaned_data.get("change_reason") or "").strip()
        if not reason:
            raise ValidationError("Give a reason for the revert.")
        return f"Reverted to version {self.reverted_version}: {reason}"


def _conflict_row(conflict: Conflict) -> dict[str, Any]:
    return {
        "conflict": conflict,
        "age": age(conflict.opened_at),
        "sources": ", ".join(c.get("source") or "hub" for c in conflict.candidates),
        "url": reverse("admin:masterdata_conflict_change", args=[conflict.pk]),
    }


def _provenance(entry: dict[str, Any]) -> dict[str, Any]:
    at = entry.get("at")
    when = parse_datetime(at) if isinstance(at, str) else None
    return {"source": entry.get("source"), "user": entry.get("user"), "rule": entry.get("rule"), "at": when or at}


def _masked(change: dict[str, Any], hidden: set[str]) -> dict[str, Any]:
    if change["field"] in hidden:
        return {**change, "old": HIDDEN_VALUE, "new": HIDDEN_VALUE}
    return change


def _shown_masked(change: dict[str, Any], key: str, hidden: set[str]) -> str:
    return HIDDEN_VALUE if change["field"] in hidden else shown(change[key])


def _payload(link: SourceLink, hidden: set[str]) -> str | None:
    """The last payload as indented JSON; withheld when the record has sensitive fields the steward may not see."""
    if hidden:
        return None
    return json.dumps(link.last_payload, indent=2, ensure_ascii=False, default=str)


def _failure_url(failure) -> str | None:
    try:
        return reverse("admin:connectors_syncfailure_change", args=[failure.pk])
    except NoReverseMatch:
        return None
