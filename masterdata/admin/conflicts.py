"""The conflict inbox: open field conflicts, resolved one by one side by side, or in bulk after a preview.

Every decision goes through :mod:`masterdata.services.conflicts` (history, outbox event,
the conflict closed with who and why) and is written to the admin log with its reason.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from masterdata.models import Conflict, ConflictStatus, SourceSystem
from masterdata.registry import registry
from masterdata.services import conflicts, golden, stewardship

from .sensitive import asks_to_reveal, reveal_on_screen
from .worklist import (
    HIDDEN_VALUE,
    AgeFilter,
    OwnerOrgFilter,
    StatusFilter,
    WorklistAdmin,
    age,
    golden_annotation,
    may_see_sensitive,
    record_link,
    record_url,
    scoped_record,
    shown,
)

KEEP = "keep"
TYPED = "typed"
#: More conflicts than this in one bulk decision make the preview unreadable: filter further.
MAX_BULK = 1000


class ConflictStatusFilter(StatusFilter):
    statuses = ConflictStatus.choices


class SourceFilter(admin.SimpleListFilter):
    """Conflicts in which a source offered a value."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return list(SourceSystem.objects.order_by("code").values_list("code", "name"))

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        code = self.value()
        if not code:
            return queryset
        if connection.features.supports_json_field_contains:
            return queryset.filter(candidates__contains=[{"source": code}])
        return queryset.filter(candidates__icontains=f'"source": "{code}"')  # SQLite spells JSON with a space too


class FieldFilter(admin.SimpleListFilter):
    """The disputed field ("all credit_rating conflicts")."""

    title = "field"
    parameter_name = "field"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        fields = model_admin.get_queryset(request).order_by("field").values_list("field", flat=True).distinct()
        return [(name, name) for name in fields]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(field=self.value()) if self.value() else queryset


class ResolveForm(forms.Form):
    """One decision on one conflict: a candidate, a typed value, or the golden value kept."""

    choice = forms.ChoiceField(widget=forms.RadioSelect, label="Decision")
    typed_value = forms.CharField(required=False, label="Typed value", widget=forms.TextInput(attrs={"size": 60}))
    lock = forms.BooleanField(
        required=False, label="Lock the field", help_text="No source may overwrite it until a steward unlocks it."
    )
    reason = forms.CharField(
        max_length=500, widget=forms.TextInput(attrs={"size": 80}), help_text="Kept in the record's history."
    )

    def __init__(self, *args: Any, candidates: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.candidates = candidates
        options = [(str(i), f"Take {c['source'] or 'the hub'}'s value") for i, c in enumerate(candidates)]
        self.fields["choice"].choices = [
            *options,
            (TYPED, "Type a value"),
            (KEEP, "Keep the golden value (with the lock: lock it as it is)"),
        ]

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Give a reason.")
        return reason

    def decided_value(self) -> Any:
        choice = self.cleaned_data["choice"]
        if choice == TYPED:
            return self.cleaned_data["typed_value"]
        return self.candidates[int(choice)]["value"]


class BulkTakeSourceForm(forms.Form):
    """Take one source's value for every selected conflict where it offered one."""

    source = forms.ChoiceField(help_text="Its value wins on every selected conflict it took part in.")
    lock = forms.BooleanField(required=False, label="Lock the fields", help_text="No source may overwrite them.")
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 80}))

    def __init__(self, *args: Any, sources: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [(code, code) for code in sources]

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Give a reason.")
        return reason


def candidate_of(conflict: Conflict, source: str) -> dict[str, Any] | None:
    return next((c for c in conflict.candidates if c.get("source") == source), None)


@admin.register(Conflict)
class ConflictAdmin(WorklistAdmin):
    list_display = (
        "conflict_column",
        "record_column",
        "domain",
        "sources_column",
        "reason",
        "age_column",
        "owner_org",
        "status",
    )
    list_display_links = None
    list_filter = (ConflictStatusFilter, "domain", SourceFilter, FieldFilter, OwnerOrgFilter, AgeFilter)
    search_fields = ("field",)
    search_help_text = "A field name, or a record's code (CUS-000004)."
    ordering = ("opened_at", "id")
    actions = ["take_source_for_selected"]
    list_title = "Conflict inbox"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(golden_code=golden_annotation("golden_id"))

    def get_search_results(self, request, queryset, search_term):
        """A field name (part of it), or a record's code: a subquery per domain on its code index, no join.

        ``queryset`` is the list's (scoped and filtered already): the code only narrows it further.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(field__icontains=term)
        for domain in registry:
            records = domain.model_class._base_manager.filter(**{f"{domain.business_key}__in": {term, term.upper()}})
            condition |= Q(domain=domain.name, golden_id__in=records.values("pk"))
        return queryset.filter(condition), False

    # --- columns ------------------------------------------------------------------------------
    @admin.display(description="conflict", ordering="field")
    def conflict_column(self, obj: Conflict) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.field)

    @admin.display(description="record", ordering="golden_code")
    def record_column(self, obj: Conflict) -> str:
        return record_link(obj.domain, obj.golden_id, obj.golden_code)

    @admin.display(description="sources")
    def sources_column(self, obj: Conflict) -> str:
        return ", ".join(c.get("source") or "hub" for c in obj.candidates) or "—"

    @admin.display(description="age", ordering="opened_at")
    def age_column(self, obj: Conflict) -> str:
        return age(obj.opened_at)

    # --- the side-by-side page ------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        conflict, refused = self.scoped_object_or_redirect(request, object_id)
        if refused:
            return refused
        domain = registry.get(conflict.domain)
        record = scoped_record(request, domain, conflict.golden_id)
        if record is None:  # the record moved out of the steward's scope since the conflict was raised
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        may_resolve = conflict.status == ConflictStatus.OPEN and stewardship.may_decide(request.user, record)
        revealing = asks_to_reveal(request)  # the reveal button posts too: it decides nothing
        form = ResolveForm(None if revealing else request.POST or None, candidates=conflict.candidates)
        if request.method == "POST" and may_resolve and form.is_valid():
            try:
                self._decide(request, conflict, record, form)
            except (golden.GoldenRecordError, ValidationError) as exc:
                form.add_error(None, _message(exc))
            else:
                return self.back_to_list(request)
        # A sensitive field's values stay masked, even for users who may read them, until they reveal (audited).
        disputed_sensitive = conflict.field in domain.sensitive_fields
        allowed = disputed_sensitive and may_see_sensitive(request, record)
        revealed = disputed_sensitive and reveal_on_screen(
            request, domain, record, allowed=allowed, screen="conflict", fields=[conflict.field]
        )
        hidden = disputed_sensitive and not revealed
        context = self.page_context(
            request,
            f"Conflict on {conflict.field} of {record}",
            conflict,
            conflict=conflict,
            record=record,
            record_url=record_url(domain.name, record.pk),
            verbose_field=_verbose_field(domain, conflict.field),
            current_value=HIDDEN_VALUE if hidden else shown(stewardship.shown_value(record, conflict.field)),
            candidates=[
                {
                    **c,
                    "index": str(i),
                    "shown": HIDDEN_VALUE if hidden else shown(c.get("value")),
                    "observed": _when(c.get("observed_at")),
                }
                for i, c in enumerate(conflict.candidates)
            ],
            field_history=[] if hidden else stewardship.field_history(record, conflict.field),
            locked=conflict.field in (record.locked_fields or []),
            form=form,
            may_resolve=may_resolve,
            may_reveal=allowed and not revealed,
            revealed=revealed,
        )
        return TemplateResponse(request, "admin/masterdata/conflict/resolve.html", context)

    def _decide(self, request, conflict: Conflict, record, form: ResolveForm) -> None:
        data = form.cleaned_data
        reason, lock = data["reason"], data["lock"]
        if data["choice"] == KEEP and not lock:
            conflicts.dismiss(conflict, request.user, reason)
            summary = f"Dismissed: {conflict.field} kept as it is."
        else:
            value = stewardship.shown_value(record, conflict.field) if data["choice"] == KEEP else form.decided_value()
            conflicts.resolve(conflict, value, request.user, reason, lock=lock)
            # The admin log and the message are stored and shown in clear: a sensitive value only masked.
            logged = HIDDEN_VALUE if conflict.field in registry.get(conflict.domain).sensitive_fields else repr(value)
            summary = f"Resolved: {conflict.field} set to {logged}{' and locked' if lock else ''}."
        conflict.refresh_from_db(fields=["status"])  # the log names the conflict as the decision left it
        self.log_change(request, conflict, f"{summary} Reason: {reason}")
        self.message_user(request, f"{record}: {summary}", messages.SUCCESS)

    # --- bulk decision: choose ▸ preview ▸ confirm ----------------------------------------------------
    @admin.action(description="Take one source's value for the selected conflicts…", permissions=["resolve"])
    def take_source_for_selected(self, request, queryset):
        selected = list(queryset.filter(status=ConflictStatus.OPEN).order_by("opened_at", "id")[: MAX_BULK + 1])
        if not selected:
            self.message_user(request, "None of the selected conflicts is open.", messages.WARNING)
            return None
        if len(selected) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} conflicts at a time.", messages.WARNING)
            return None
        sources = sorted({c.get("source") for conflict in selected for c in conflict.candidates if c.get("source")})
        bound = "_preview" in request.POST or "_confirm" in request.POST
        form = BulkTakeSourceForm(request.POST if bound else None, sources=sources)
        preview = None
        if bound and form.is_valid():
            preview = self._preview(request, selected, form.cleaned_data["source"])
            # Only what the steward saw is applied: a source changed after the preview is previewed first.
            if "_confirm" in request.POST and request.POST.get("previewed_source") == form.cleaned_data["source"]:
                self._apply(request, preview, form.cleaned_data)
                return None
        context = self.page_context(
            request,
            "Take one source's value for the selected conflicts",
            form=form,
            selected=selected,
            preview=preview,
            changing=sum(1 for row in (preview or []) if row["action"] == "change"),
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
        )
        return TemplateResponse(request, "admin/masterdata/conflict/bulk_take_source.html", context)

    def _preview(self, request, selected: list[Conflict], source: str) -> list[dict[str, Any]]:
        """What each conflict would become: its golden value now and the source's value, or why it is skipped."""
        resolvable = set(
            stewardship.restrict(
                request.user, Conflict.objects.filter(pk__in=[c.pk for c in selected]), "resolve"
            ).values_list("pk", flat=True)
        )
        current = _current_values(selected)
        rows = []
        for conflict in selected:
            offered = candidate_of(conflict, source)
            now = current.get((conflict.domain, conflict.golden_id, conflict.field), conflict.golden_value)
            row = {"conflict": conflict, "current": shown(now), "new": None, "action": "skip", "why": ""}
            if conflict.pk not in resolvable:
                row["why"] = "outside your scope"
            elif offered is None:
                row["why"] = f"{source} offered no value"
            else:
                row["new"] = shown(offered["value"])
                unchanged = conflicts.to_json(now) == conflicts.to_json(offered["value"])
                row["action"] = "close" if unchanged else "change"
            if conflict.field in registry.get(conflict.domain).sensitive_fields:
                row["current"] = HIDDEN_VALUE
                row["new"] = row["new"] and HIDDEN_VALUE
            rows.append(row)
        return rows

    def _apply(self, request, preview: list[dict[str, Any]], data: dict[str, Any]) -> None:
        done = failed = 0
        for row in preview:
            if row["action"] == "skip":
                continue
            conflict = row["conflict"]
            value = candidate_of(conflict, data["source"])["value"]
            try:
                conflicts.resolve(conflict, value, request.user, data["reason"], lock=data["lock"])
            except (golden.GoldenRecordError, ValidationError) as exc:
                failed += 1
                self.message_user(request, f"{conflict.golden_code} {conflict.field}: {_message(exc)}", messages.ERROR)
                continue
            done += 1
            conflict.refresh_from_db(fields=["status"])
            lock = " and locked" if data["lock"] else ""
            self.log_change(
                request, conflict, f"Resolved in bulk: took {data['source']}'s value{lock}. Reason: {data['reason']}"
            )
        skipped = len(preview) - done - failed
        note = f", {skipped} skipped" if skipped else ""
        summary = f"Resolved {done} conflict(s) with {data['source']}'s value{note}."
        self.message_user(request, summary, messages.SUCCESS)


def _current_values(selected: list[Conflict]) -> dict[tuple[str, int, str], Any]:
    """The golden value of each selected conflict's field now, one query per domain."""
    wanted: dict[str, dict[int, set[str]]] = {}
    for conflict in selected:
        wanted.setdefault(conflict.domain, {}).setdefault(conflict.golden_id, set()).add(conflict.field)
    values = {}
    for domain_name, records in wanted.items():
        model = registry.get(domain_name).model_class
        fields = {name for names in records.values() for name in names}
        related = [name for name in fields if model._meta.get_field(name).is_relation]
        for record in model._base_manager.filter(pk__in=records).select_related(*related):
            for name in records[record.pk]:
                values[(domain_name, record.pk, name)] = stewardship.shown_value(record, name)
    return values


def _when(value: Any) -> Any:
    """A candidate's observed time (ISO text in the JSON) as a datetime the template formats."""
    return parse_datetime(value) or value if isinstance(value, str) else value


def _verbose_field(domain, field_name: str) -> str:
    try:
        return str(domain.model_class._meta.get_field(field_name).verbose_name)
    except FieldDoesNotExist:
        return field_name


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return getattr(exc, "message", None) or str(exc)
