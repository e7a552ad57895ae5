"""Duplicate suspects and merges: compare two records, merge them field by field, undo a merge.

The merge itself is :func:`masterdata.services.merge.merge`; "not a duplicate" is
:func:`masterdata.services.matching.mark_not_duplicate` (the pair is never suggested again).
Both need a reason, which the admin log keeps next to the records' own history.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from masterdata.models import (
    DuplicateSuspect,
    GoldenRecord,
    GoldenStatus,
    MergeRecord,
    MergeStatus,
    SourceLink,
    SuspectStatus,
)
from masterdata.registry import Domain, registry
from masterdata.services import golden, matching, merge, stewardship

from .sensitive import asks_to_reveal, reveal_on_screen
from .worklist import (
    HIDDEN_VALUE,
    OwnerOrgFilter,
    StatusFilter,
    WorklistAdmin,
    golden_annotation,
    may_see_sensitive,
    record_link,
    record_url,
    scoped_record,
    shown,
)

SIDES = [("a", "A"), ("b", "B")]


class SuspectStatusFilter(StatusFilter):
    statuses = SuspectStatus.choices


class MergeStatusFilter(StatusFilter):
    statuses = MergeStatus.choices
    default = "all"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.TextInput(attrs={"size": 80}), help_text="Kept in the history and the admin log."
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Give a reason.")
        return reason


class MergeForm(ReasonForm):
    """Which record survives, and from which side each field takes its value."""

    survivor = forms.ChoiceField(choices=SIDES, widget=forms.RadioSelect, initial="a")

    def __init__(self, *args: Any, rows: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for row in rows:
            self.fields[f"take_{row['name']}"] = forms.ChoiceField(
                choices=SIDES, widget=forms.RadioSelect, initial=row["default"], label=row["label"]
            )
        self.rows = rows

    def field_choices(self) -> tuple[str, dict[str, str]]:
        """(survivor side, {field: "survivor" | "loser"})."""
        survivor = self.cleaned_data["survivor"]
        return survivor, {
            row["name"]: merge.SURVIVOR if self.cleaned_data[f"take_{row['name']}"] == survivor else merge.LOSER
            for row in self.rows
        }


def _compare_rows(domain: Domain, a: GoldenRecord, b: GoldenRecord, shown_clear: dict[str, bool]) -> list[dict]:
    """One row per field a steward chooses: both values, whether they differ, and the side to take by default.

    By default a field keeps A's value (A, the older record, survives) unless only B has one.
    Sensitive values stay masked on a side unless ``shown_clear`` says it was revealed (audited):
    choosing a side by its radio button needs no clear value.
    """
    hide_a, hide_b = not shown_clear.get("a"), not shown_clear.get("b")
    rows = []
    for name in merge.mergeable_fields(domain):
        value_a, value_b = stewardship.shown_value(a, name), stewardship.shown_value(b, name)
        hidden = name in domain.sensitive_fields
        empty_a = value_a in (None, "", [], {})
        rows.append(
            {
                "name": name,
                "label": str(domain.model_class._meta.get_field(name).verbose_name),
                "a": HIDDEN_VALUE if hidden and hide_a else shown(value_a),
                "b": HIDDEN_VALUE if hidden and hide_b else shown(value_b),
                "differs": value_a != value_b,
                "default": "b" if empty_a and value_b not in (None, "", [], {}) else "a",
            }
        )
    return rows


def decisions_of(row) -> list[LogEntry]:
    """Who decided what on ``row``, when and why (the admin log keeps each decision with its reason)."""
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(row), object_id=str(row.pk))
    return list(entries.select_related("user").order_by("-action_time", "-id")[:50])


@admin.register(DuplicateSuspect)
class DuplicateSuspectAdmin(WorklistAdmin):
    list_display = ("pair_column", "record_a", "record_b", "score", "reasons_column", "domain", "owner_org", "status")
    list_display_links = None
    list_filter = (SuspectStatusFilter, "domain", OwnerOrgFilter)
    ordering = ("-score", "id")
    list_title = "Duplicate suspects"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                code_a=golden_annotation("golden_id_a"),
                name_a=golden_annotation("golden_id_a", "name"),
                code_b=golden_annotation("golden_id_b"),
                name_b=golden_annotation("golden_id_b", "name"),
            )
        )

    @admin.display(description="pair")
    def pair_column(self, obj: DuplicateSuspect) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        return format_html('<a href="{}">Compare</a>', url)

    @admin.display(description="record A", ordering="code_a")
    def record_a(self, obj: DuplicateSuspect) -> str:
        return record_link(obj.domain, obj.golden_id_a, _label(obj.code_a, obj.name_a))

    @admin.display(description="record B", ordering="code_b")
    def record_b(self, obj: DuplicateSuspect) -> str:
        return record_link(obj.domain, obj.golden_id_b, _label(obj.code_b, obj.name_b))

    @admin.display(description="why")
    def reasons_column(self, obj: DuplicateSuspect) -> str:
        return describe_reasons(obj.reasons)

    # --- the compare page -----------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        pair, refused = self.scoped_object_or_redirect(request, object_id)
        if refused:
            return refused
        domain = registry.get(pair.domain)
        a = scoped_record(request, domain, pair.golden_id_a)
        b = scoped_record(request, domain, pair.golden_id_b)
        if a is None and b is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        both = a is not None and b is not None
        open_pair = pair.status == SuspectStatus.OPEN and both and GoldenStatus.MERGED not in (a.status, b.status)
        may_decide = open_pair and all(stewardship.may_decide(request.user, r) for r in (a, b))
        allowed, revealed = _reveal_sides(request, domain, {"a": a, "b": b}, "duplicate compare")
        rows = _compare_rows(domain, a, b, revealed) if both else []
        revealing = asks_to_reveal(request)  # the reveal button posts the merge form: it decides nothing
        posted = request.method == "POST" and not revealing
        not_duplicate = posted and "_not_duplicate" in request.POST
        kept = {name: value for name, value in request.POST.items() if name.startswith(("take_", "survivor"))}
        form = MergeForm(request.POST if posted and not not_duplicate else None, rows=rows, initial=kept)
        reason_form = ReasonForm(request.POST if not_duplicate else None, prefix="nd")
        if posted and may_decide:
            response = self._decide(request, pair, domain, (a, b), form, reason_form, not_duplicate)
            if response is not None:
                return response
        for row in rows:
            row["choice"] = form[f"take_{row['name']}"].value()
        context = self.page_context(
            request,
            f"Compare {domain.verbose_name} records",
            pair,
            pair=pair,
            domain=domain,
            a=a,
            b=b,
            a_url=a and record_url(domain.name, a.pk),
            b_url=b and record_url(domain.name, b.pk),
            rows=rows,
            form=form,
            reason_form=reason_form,
            links=_links_by_side(domain, pair),
            reasons=describe_reasons(pair.reasons),
            may_decide=may_decide,
            merges=list(pair.merges.order_by("-merged_at")),
            decisions=decisions_of(pair),
            may_reveal=any(allowed.values()) and not any(revealed.values()),
            revealed=any(revealed.values()),
        )
        return TemplateResponse(request, "admin/masterdata/duplicatesuspect/compare.html", context)

    def _decide(self, request, pair, domain, records, form, reason_form, not_duplicate) -> HttpResponseRedirect | None:
        a, b = records
        try:
            if not_duplicate:
                if not reason_form.is_valid():
                    return None
                matching.mark_not_duplicate(pair, request.user)
                reason = reason_form.cleaned_data["reason"]
                self.log_change(request, pair, f"Not a duplicate: {a.code} and {b.code}. Reason: {reason}")
                self.message_user(request, f"{a.code} and {b.code} will not be suggested again.", messages.SUCCESS)
                return self.back_to_list(request)
            if not form.is_valid():
                return None
            side, choices = form.field_choices()
            survivor, loser = (a, b) if side == "a" else (b, a)
            reason = form.cleaned_data["reason"]
            record = merge.merge(domain, survivor, loser, choices, request.user, reason, suspect=pair)
        except (golden.GoldenRecordError, ValidationError) as exc:
            self.message_user(request, f"Nothing was changed: {_message(exc)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        self.log_change(request, pair, f"Merged {loser.code} into {survivor.code}. Reason: {reason}")
        self.message_user(request, f"Merged {loser.code} into {survivor.code}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:masterdata_mergerecord_change", args=[record.pk]))


@admin.register(MergeRecord)
class MergeRecordAdmin(WorklistAdmin):
    list_display = ("merged_at", "survivor_column", "loser_column", "domain", "merged_by", "owner_org", "status")
    list_filter = (MergeStatusFilter, "domain", OwnerOrgFilter)
    list_select_related = ("owner_org", "merged_by")
    ordering = ("-merged_at", "-id")
    list_title = "Merges"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(survivor_code=golden_annotation("survivor_id"), loser_code=golden_annotation("loser_id"))
        )

    @admin.display(description="survivor", ordering="survivor_code")
    def survivor_column(self, obj: MergeRecord) -> str:
        return record_link(obj.domain, obj.survivor_id, obj.survivor_code)

    @admin.display(description="merged record", ordering="loser_code")
    def loser_column(self, obj: MergeRecord) -> str:
        return record_link(obj.domain, obj.loser_id, obj.loser_code)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record, refused = self.scoped_object_or_redirect(request, object_id)
        if refused:
            return refused
        domain = registry.get(record.domain)
        survivor = scoped_record(request, domain, record.survivor_id)
        loser = scoped_record(request, domain, record.loser_id)
        if survivor is None or loser is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        may_unmerge = record.status == MergeStatus.MERGED and all(
            stewardship.may_decide(request.user, r) for r in (survivor, loser)
        )
        revealing = asks_to_reveal(request)  # the reveal button decides nothing
        form = ReasonForm(None if revealing else request.POST or None)
        if request.method == "POST" and not revealing and may_unmerge and form.is_valid():
            try:
                done = merge.unmerge(record, request.user, form.cleaned_data["reason"])
            except (golden.GoldenRecordError, ValidationError) as exc:
                self.message_user(request, f"Nothing was changed: {_message(exc)}", messages.ERROR)
            else:
                kept = f" Kept the newer values of: {', '.join(done.kept_on_unmerge)}." if done.kept_on_unmerge else ""
                self.log_change(request, done, f"Unmerged. Reason: {form.cleaned_data['reason']}.{kept}")
                self.message_user(request, f"Unmerged {loser.code} from {survivor.code}.{kept}", messages.SUCCESS)
            return HttpResponseRedirect(request.get_full_path())
        allowed, revealed = _reveal_sides(request, domain, {"survivor": survivor, "loser": loser}, "merge")
        context = self.page_context(
            request,
            f"Merge of {loser.code} into {survivor.code}",
            record,
            merge=record,
            domain=domain,
            survivor=survivor,
            loser=loser,
            survivor_url=record_url(domain.name, survivor.pk),
            loser_url=record_url(domain.name, loser.pk),
            choices=_choice_rows(domain, record, revealed),
            links=SourceLink.objects.filter(pk__in=[m["id"] for m in record.moved_links]).select_related("source"),
            children=_children(record),
            form=form,
            may_unmerge=may_unmerge,
            may_reveal=any(allowed.values()) and not any(revealed.values()),
            revealed=any(revealed.values()),
        )
        return TemplateResponse(request, "admin/masterdata/mergerecord/detail.html", context)


def describe_reasons(reasons: dict[str, Any]) -> str:
    """Why a pair is suspected, as a steward reads it: "name 93, address 88" (fuzzy scores per field)."""
    parts = []
    for kind, detail in (reasons or {}).items():
        if isinstance(detail, dict):
            parts += [
                f"{name} {score:g}" if isinstance(score, int | float) else f"{name}" for name, score in detail.items()
            ]
        else:
            parts.append(f"{kind}: {detail}")
    return ", ".join(parts) or "—"


def _label(code: str | None, name: str | None) -> str | None:
    return f"{code} · {name}" if code and name else code


def _links_by_side(domain: Domain, pair: DuplicateSuspect) -> dict[str, list[SourceLink]]:
    links = SourceLink.objects.filter(domain=domain.name, golden_id__in=[pair.golden_id_a, pair.golden_id_b])
    sides: dict[str, list[SourceLink]] = {"a": [], "b": []}
    for link in links.select_related("source").order_by("source__code", "source_key"):
        sides["a" if link.golden_id == pair.golden_id_a else "b"].append(link)
    return sides


def _reveal_sides(
    request, domain: Domain, records: dict[str, GoldenRecord | None], screen: str
) -> tuple[dict[str, bool], dict[str, bool]]:
    """(may reveal, revealed now) per side: masked first, clear after the Reveal button, one audit event per record."""
    allowed = {
        side: bool(record is not None and domain.sensitive_fields and may_see_sensitive(request, record))
        for side, record in records.items()
    }
    revealed = {
        side: record is not None and reveal_on_screen(request, domain, record, allowed=allowed[side], screen=screen)
        for side, record in records.items()
    }
    return allowed, revealed


def _choice_rows(domain: Domain, record: MergeRecord, revealed: dict[str, bool]) -> list[dict[str, Any]]:
    """The values each side had before the merge; sensitive ones masked on a side not revealed."""
    model = domain.model_class
    sensitive = set(domain.sensitive_fields)
    rows = []
    for name, side in sorted(record.field_choices.items()):
        f = model._meta.get_field(name)
        before_s = _by_code(f, merge.snapshot_value(f, record.survivor_before.get(f.attname)))
        before_l = _by_code(f, merge.snapshot_value(f, record.loser_before.get(f.attname)))
        rows.append(
            {
                "name": name,
                "side": side,
                "survivor": HIDDEN_VALUE if name in sensitive and not revealed["survivor"] else shown(before_s),
                "loser": HIDDEN_VALUE if name in sensitive and not revealed["loser"] else shown(before_l),
                "changed": side == merge.LOSER and before_s != before_l,
            }
        )
    return rows


def _by_code(f, value: Any) -> Any:
    """A foreign key of a snapshot (an id) as stewards name it: by business code."""
    if value is None or not f.is_relation:
        return value
    return f.related_model._base_manager.filter(pk=value).values_list("code", flat=True).first() or value


def _children(record: MergeRecord) -> list[dict[str, Any]]:
    """The records the merge repointed, by model and field, with their codes."""
    rows = []
    for moved in record.moved_children:
        model = apps.get_model(moved["model"])
        codes = list(model._base_manager.filter(pk__in=moved["ids"]).order_by("code").values_list("code", flat=True))
        rows.append({"model": model._meta.verbose_name_plural, "field": moved["field"], "codes": codes})
    return rows


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return getattr(exc, "message", None) or str(exc)
