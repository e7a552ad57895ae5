"""The failed-syncs queue: inbound and outbound failures together, and the steward's decisions on them.

The list and the item page are scoped like the records (a steward sees the failures of records
they may resolve); every decision asks for a reason and goes through
:mod:`connectors.services.decisions`, which audits it on the item. Payloads are shown
pretty-printed with credentials and sensitive fields masked (:func:`failures.shown_payload`); a user
who may read sensitive values presses Reveal (a POST, audited by :func:`failures.reveal`) to see them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from connectors.models import FailureClass, FailureStatus, PushTarget, SyncFailure, SyncRun
from connectors.services import decisions, failures
from masterdata.admin.listing import FastActionCheckboxMixin
from masterdata.admin.sensitive import asks_to_reveal
from masterdata.admin.worklist import OwnerOrgFilter, golden_annotation
from masterdata.registry import registry
from masterdata.services import access

from .sync import pretty

#: A retry runs the pipeline (or the push) within the request: larger selections are refused.
RETRY_LIMIT = 1000
ERROR_PREVIEW = 120


def record_url(failure: SyncFailure) -> str | None:
    """The admin page of the golden record a failure concerns, when the hub has one."""
    if failure.golden_id is None or failure.domain not in registry:
        return None
    opts = registry.get(failure.domain).model_class._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[failure.golden_id])
    except NoReverseMatch:
        return None


def _holds_sensitive(failure: SyncFailure) -> bool:
    return failure.domain in registry and bool(registry.get(failure.domain).sensitive_fields)


def _outcome_message(verb: str, report: decisions.DecisionReport) -> str:
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(report.summary().items()))
    skipped = f"; {report.skipped} skipped (closed already or outside your scope)" if report.skipped else ""
    return f"{verb} {len(report.outcomes)}: {counts or 'nothing'}{skipped}."


class CappedPaginator(Paginator):
    """Counts up to ``cap`` rows: a steward's scoped count over a large queue costs more than the page."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


class TargetFilter(admin.SimpleListFilter):
    """Push targets with their source in one query (the stock filter reads each target's source)."""

    title = "push target"
    parameter_name = "push_target__id__exact"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(str(t.pk), str(t)) for t in PushTarget.objects.select_related("source")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(push_target_id=int(value)) if value and value.isdigit() else queryset


#: Classification as the queue shows it, the same for either direction (the direction has its own column).
CLASS_LABELS = {
    FailureClass.TRANSIENT: "Transient",
    FailureClass.BAD_DATA: "Bad data",
    FailureClass.CONFIGURATION: "Configuration",
}


def class_label(value: str) -> str:
    return CLASS_LABELS.get(value, value) if value else "—"


class ClassificationFilter(admin.SimpleListFilter):
    """The classification with neutral labels: inbound bad data was refused by the hub, outbound by the target."""

    title = "classification"
    parameter_name = "classification__exact"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [(value, label) for value, label in CLASS_LABELS.items()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(classification=value) if value else queryset


@admin.register(SyncFailure)
class FailureQueueAdmin(FastActionCheckboxMixin, admin.ModelAdmin):
    """Read-only rows; decisions are actions (bulk) and buttons on the item (single), each with a reason."""

    #: Direction and domain read from "source / target" (← crm · customer, → erp · supplier) too.
    list_display = (
        "last_failed_at", "direction_label", "endpoint", "record", "stage_label", "class_label", "attempts",
        "error_preview", "status",
    )  # fmt: skip
    list_display_links = ("last_failed_at",)
    list_filter = (
        "status", "direction", ClassificationFilter, "stage", "domain", "source", TargetFilter, OwnerOrgFilter,
    )  # fmt: skip
    list_select_related = ("source", "push_target__source", "subscription")
    search_fields = ("=source_key", "error")
    list_per_page = 50
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # counting every filter's choices over the whole queue is not free
    actions = ["retry", "discard"]
    change_form_template = "admin/connectors/syncfailure/change_form.html"
    FAILURE_FIELDS = (
        "stage", "class_label", "attempts", "first_failed_at", "last_failed_at", "error", "errors_display",
        "run_link",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("direction", "endpoint", "domain", "record", "owner_org", "source_key", "status")}),
        ("Failure", {"fields": FAILURE_FIELDS}),
        ("Closed", {"fields": ("closed_at", "closed_by", "note")}),
    )

    # --- columns ----------------------------------------------------------------------------
    @admin.display(description="source / target")
    def endpoint(self, obj: SyncFailure) -> str:
        if obj.push_target_id:
            paused = " (paused)" if obj.push_target.paused else ""
            return f"→ {obj.push_target.source.code} · {obj.push_target.domain}{paused}"
        if obj.subscription_id:
            return f"→ webhook {obj.subscription.name}"
        return f"← {obj.source.code} · {obj.domain}" if obj.source_id else "—"

    @admin.display(description="record")
    def record(self, obj: SyncFailure) -> str:
        code = getattr(obj, "record_code", None)
        label = code or obj.source_key or (f"#{obj.golden_id}" if obj.golden_id else obj.fingerprint[:40])
        url = record_url(obj)
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="stage", ordering="stage")
    def stage_label(self, obj: SyncFailure) -> str:
        return obj.get_stage_display().split(" (")[0]

    @admin.display(description="direction", ordering="direction")
    def direction_label(self, obj: SyncFailure) -> str:
        return obj.get_direction_display().split(" (")[0]

    @admin.display(description="classification", ordering="classification")
    def class_label(self, obj: SyncFailure) -> str:
        return class_label(obj.classification)

    @admin.display(description="last error")
    def error_preview(self, obj: SyncFailure) -> str:
        text = obj.error or ""
        return text if len(text) <= ERROR_PREVIEW else text[: ERROR_PREVIEW - 1] + "…"

    @admin.display(description="errors")
    def errors_display(self, obj: SyncFailure) -> str:
        return pretty(obj.errors)

    @admin.display(description="sync run")
    def run_link(self, obj: SyncFailure) -> str:
        """The run that recorded the failure: a link for whoever may open it (stewards may: see ``sync``)."""
        if not obj.run_id:
            return "—"
        label = f"Sync run #{obj.run_id}"
        request = getattr(obj, "viewer_request", None)
        run_admin = self.admin_site._registry.get(SyncRun)
        if request is None or run_admin is None or not run_admin.has_view_permission(request, obj.run):
            return label
        url = reverse("admin:connectors_syncrun_change", args=[obj.run_id])
        return format_html('<a href="{}">{}</a>', url, label)

    # --- scope and permissions --------------------------------------------------------------
    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request).annotate(record_code=golden_annotation("golden_id"))
        return failures.visible(request.user, queryset)

    def get_readonly_fields(self, request, obj=None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return failures.may_use_queue(request.user)

    def has_view_permission(self, request: HttpRequest, obj: SyncFailure | None = None) -> bool:
        if not failures.may_use_queue(request.user):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SyncFailure | None = None) -> bool:
        return False  # the rows are a record; decisions change them, never a form

    def has_delete_permission(self, request: HttpRequest, obj: SyncFailure | None = None) -> bool:
        return False  # discarded, never deleted: the decision stays on the record

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return failures.may_decide_all(request.user) or access.has_any_grant(request.user, "resolve")

    # --- the queue opens on what is still open ----------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        if request.method == "GET" and not request.GET:
            return HttpResponseRedirect(f"{request.path}?status__exact={FailureStatus.OPEN}")
        return super().changelist_view(request, {"title": "Failed syncs", **(extra_context or {})})

    # --- bulk decisions: an intermediate page asks why ---------------------------------------
    def _decide_selected(self, request: HttpRequest, queryset, verb: str, title: str):
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("apply") and reason:
            ids = list(queryset.filter(status=FailureStatus.OPEN).values_list("pk", flat=True)[: RETRY_LIMIT + 1])
            if verb == "retry" and len(ids) > RETRY_LIMIT:
                self.message_user(request, f"Retry at most {RETRY_LIMIT} failures at a time: filter the list first.",
                                  messages.ERROR)  # fmt: skip
                return None
            if verb == "discard":
                ids = queryset.filter(status=FailureStatus.OPEN).values_list("pk", flat=True)
            report = (decisions.retry if verb == "retry" else decisions.discard)(request.user, ids, reason)
            failed = any(o.startswith(decisions.FAILED_AGAIN) for o in report.outcomes.values())
            level = messages.WARNING if failed else messages.SUCCESS
            self.message_user(request, _outcome_message("Retried" if verb == "retry" else "Discarded", report), level)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "verb": verb,
            "count": queryset.count() if request.POST.get("select_across") == "1" else None,
            "selected": list(queryset.select_related("source", "push_target__source", "subscription")[:20]),
            "selected_ids": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "reason_missing": bool(request.POST.get("apply")),
            "media": self.media,
        }
        return TemplateResponse(request, "admin/connectors/syncfailure/decide_selected.html", context)

    @admin.action(description="Retry the selected failures…", permissions=["decide"])
    def retry(self, request: HttpRequest, queryset):
        return self._decide_selected(request, queryset, "retry", "Retry failed syncs")

    @admin.action(description="Discard the selected failures…", permissions=["decide"])
    def discard(self, request: HttpRequest, queryset):
        return self._decide_selected(request, queryset, "discard", "Discard failed syncs")

    # --- the item: decisions with a reason, edit and retry, the target's pause switch ----------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/decide/", view(self.decide_view), name="connectors_syncfailure_decide"),
            path("<path:object_id>/edit/", view(self.edit_view), name="connectors_syncfailure_edit"),
            path("<path:object_id>/reveal/", view(self.reveal_view), name="connectors_syncfailure_reveal"),
            path("target/<int:target_id>/<str:switch>/", view(self.target_view), name="connectors_pushtarget_switch"),
            *super().get_urls(),
        ]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        failure = super().get_object(request, object_id, from_field)
        if failure is not None:
            failure.viewer_request = request  # the run link depends on who looks
        return failure

    def _visible_or_404(self, request: HttpRequest, object_id: str) -> SyncFailure:
        failure = self.get_object(request, unquote(object_id))
        if failure is None:
            raise Http404("No such failure in your queue.")
        return failure

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        failure = self._visible_or_404(request, object_id)
        revealed = bool((extra_context or {}).get("revealed"))
        context = {
            "failure": failure,
            "payload_json": json.dumps(
                failures.shown_payload(request.user, failure, revealed=revealed),
                indent=2,
                ensure_ascii=False,
                default=str,
            ),
            "raw_body_preview": failures.shown_raw_body(request.user, failure, revealed=revealed)[:5000],
            "may_reveal": not revealed
            and _holds_sensitive(failure)
            and failures.may_reveal_sensitive(request.user, failure),
            "reveal_url": reverse("admin:connectors_syncfailure_reveal", args=[failure.pk]),
            "may_decide": failure.status == FailureStatus.OPEN and failures.may_decide(request.user, failure),
            "can_edit": decisions.can_edit(failure),
            "record_url": record_url(failure),
            "decisions": decisions.history(failure),
            "target": failure.push_target,
            "may_control_target": failure.push_target_id is not None and decisions.may_control_target(request.user),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def reveal_view(self, request: HttpRequest, object_id: str):
        """The item page with sensitive payload values in clear: a POST, audited (one event per reveal)."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:connectors_syncfailure_change", args=[object_id]))
        failure = self._visible_or_404(request, object_id)
        if not failures.reveal(request.user, failure, screen="failure", request=request):
            raise PermissionDenied("You may not reveal sensitive values of this failure.")
        shown = copy.copy(request)
        shown.method = "GET"  # render the read-only item page; the admin would take a POST as a save
        return self.change_view(shown, object_id, extra_context={"revealed": True})

    @staticmethod
    def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
        target = request.POST.get("next") or default
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = default
        return HttpResponseRedirect(target)

    def _item_url(self, failure: SyncFailure) -> str:
        return reverse("admin:connectors_syncfailure_change", args=[failure.pk])

    def decide_view(self, request: HttpRequest, object_id: str):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:connectors_syncfailure_change", args=[object_id]))
        failure = self._visible_or_404(request, object_id)
        if not failures.may_decide(request.user, failure):
            raise PermissionDenied("You may not decide on this failure.")
        verb = request.POST.get("decision")
        if verb not in ("retry", "discard"):
            raise Http404("Unknown decision.")
        try:
            report = (decisions.retry if verb == "retry" else decisions.discard)(
                request.user, [failure.pk], request.POST.get("reason", "")
            )
        except decisions.DecisionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            outcome = report.outcomes.get(failure.pk, "nothing to do: the failure is closed")
            ok = not outcome.startswith((decisions.FAILED_AGAIN, "could not", "skipped"))
            self.message_user(request, f"{verb.capitalize()}: {outcome}.", messages.SUCCESS if ok else messages.WARNING)
        return HttpResponseRedirect(self._item_url(failure))

    def edit_view(self, request: HttpRequest, object_id: str):
        failure = self._visible_or_404(request, object_id)
        if not (failures.may_decide(request.user, failure) and decisions.can_edit(failure)):
            raise PermissionDenied("This failure cannot be edited by you.")
        values = decisions.editable_values(failure)
        # Sensitive values stay hidden (left empty, they are kept) until the steward reveals them: audited.
        holds_sensitive = any(item.sensitive for item in values)
        reveal = (
            holds_sensitive
            and asks_to_reveal(request)
            and failures.reveal(request.user, failure, screen="failure edit", request=request)
        )
        error = None
        if request.method == "POST" and not asks_to_reveal(request):
            corrections = {item.path: request.POST.get(f"value:{item.path}", item.text) for item in values}
            try:
                report = decisions.edit_and_retry(request.user, failure, corrections, request.POST.get("reason", ""))
            except decisions.DecisionError as exc:
                error = str(exc)
            else:
                outcome = report.outcomes[failure.pk]
                level = messages.SUCCESS if outcome == decisions.WENT_THROUGH else messages.WARNING
                self.message_user(request, f"Edited and retried: {outcome}.", level)
                return HttpResponseRedirect(self._item_url(failure))
        rows = [
            {"item": item, "shown": "" if item.sensitive and not reveal else item.text,
             "hidden": item.sensitive and not reveal}
            for item in values
        ]  # fmt: skip
        context = {
            **self.admin_site.each_context(request),
            "title": f"Edit and retry {failure}",
            "opts": self.model._meta,
            "original": failure,
            "failure": failure,
            "rows": rows,
            "error": error,
            "reason": request.POST.get("reason", ""),
            "may_reveal": holds_sensitive and not reveal and failures.may_reveal_sensitive(request.user, failure),
            "revealed": reveal,
        }
        return TemplateResponse(request, "admin/connectors/syncfailure/edit.html", context)

    def target_view(self, request: HttpRequest, target_id: int, switch: str):
        if request.method != "POST" or switch not in ("pause", "resume"):
            raise Http404("Unknown switch.")
        if not decisions.may_control_target(request.user):
            raise PermissionDenied("Pausing or resuming a target is a group-wide decision.")
        target = get_object_or_404(PushTarget.objects.select_related("source"), pk=target_id)
        try:
            (decisions.pause_target if switch == "pause" else decisions.resume_target)(
                request.user, target, request.POST.get("reason", "")
            )
        except decisions.DecisionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"{'Paused' if switch == 'pause' else 'Resumed'} pushing to {target}.")
        return self._back(request, reverse("admin:connectors_syncfailure_changelist"))
