"""Admin of source systems (with their per-domain direction and trust) and source links.

Source systems are integration settings: they follow plain model permissions. A source link
holds the source's whole record, so it is scoped like the golden record it points at (a
steward of one company never lists another company's links), and its payload shows sensitive
values masked — to everyone, first: a user who may read them on that record presses *Reveal*
(a POST, one audit event) to see them once, as on the other workspace screens.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, CharField, OuterRef, Subquery, Value, When
from django.http import Http404
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from masterdata.models import SourceDomain, SourceLink, SourceSystem
from masterdata.registry import registry
from masterdata.services import access, sensitive, stewardship

from .listing import FastActionCheckboxMixin

REVEALED_NOTE = (
    "Sensitive values are shown in clear on this page: this reveal is recorded in the audit log under your name."
)


def _sensitive_record(link: SourceLink) -> tuple[Any, Any]:
    """(domain, golden record) when the link's domain has sensitive fields, else (domain or None, None)."""
    domain = registry.get(link.domain) if link.domain in registry else None
    if domain is None or not domain.sensitive_fields:
        return domain, None
    return domain, link.golden_record


class SourceDomainInline(admin.TabularInline):
    model = SourceDomain
    extra = 0
    fields = ("domain", "direction", "trust_rank", "field_trust")


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "is_active", "domains_display", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    inlines = [SourceDomainInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("domains")

    @admin.display(description="domains")
    def domains_display(self, obj) -> str:
        return ", ".join(f"{d.domain} ({d.direction}, trust {d.trust_rank})" for d in obj.domains.all()) or "—"


def golden_code_annotation() -> Case:
    """The linked golden record's code, one correlated subquery per domain: no query per row."""
    whens = [
        When(
            domain=domain.name,
            then=Subquery(domain.model_class._default_manager.filter(pk=OuterRef("golden_id")).values("code")[:1]),
        )
        for domain in registry
    ]
    return Case(*whens, default=Value(None), output_field=CharField())


def golden_change_url(domain_name: str, golden_id: int) -> str | None:
    try:
        opts = registry.get(domain_name).model_class._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[golden_id])
    except (LookupError, NoReverseMatch):
        return None


class SourceLinkForm(forms.ModelForm):
    class Meta:
        model = SourceLink
        fields = ("source", "domain", "source_key", "golden_id", "status", "last_seen_at", "last_pushed_version")

    def clean(self) -> dict[str, Any]:
        """A link must point at an existing golden record of its domain."""
        cleaned = super().clean()
        domain_name, golden_id = cleaned.get("domain"), cleaned.get("golden_id")
        if domain_name and golden_id is not None and domain_name in registry:
            model = registry.get(domain_name).model_class
            if not model._default_manager.filter(pk=golden_id).exists():
                self.add_error("golden_id", f"There is no {domain_name} with id {golden_id}.")
        return cleaned


@admin.register(SourceLink)
class SourceLinkAdmin(FastActionCheckboxMixin, admin.ModelAdmin):
    form = SourceLinkForm
    list_display = (
        "source_key",
        "source",
        "domain",
        "golden_record_column",
        "status",
        "last_seen_at",
        "last_pushed_version",
    )
    list_filter = ("source", "domain", "status")
    list_select_related = ("source",)
    search_fields = ("source_key",)
    show_full_result_count = False
    readonly_fields = ("golden_record_display", "payload_display", "payload_hash", "created_at", "updated_at")

    def get_queryset(self, request):
        links = stewardship.restrict_links(request.user, super().get_queryset(request))
        return links.annotate(golden_code=golden_code_annotation())

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.reveal_view))
        opts = self.model._meta
        return [
            path("<path:object_id>/reveal/", view, name=f"{opts.app_label}_{opts.model_name}_reveal"),
            *super().get_urls(),
        ]

    def get_object(self, request, object_id, from_field=None):
        link = super().get_object(request, object_id, from_field)
        if link is not None:
            link.viewer = request.user  # the payload display masks by the viewer's rights
            link.revealed = bool(getattr(request, "_reveal_link", False))
        return link

    def reveal_view(self, request, object_id: str):
        """The link's page with its payload's sensitive values in clear: a POST, audited once per press."""
        link = self.get_object(request, unquote(object_id))
        if link is None or not self.has_view_or_change_permission(request, link):
            raise Http404("No such source link in your scope.")
        domain, record = _sensitive_record(link)
        if record is None or not access.can_act_on(request.user, record, "view_sensitive"):
            raise PermissionDenied("You may not reveal sensitive values of this record.")
        sensitive.audit_reveal(domain, [record], domain.sensitive_fields, via="admin source link", request=request)
        shown = copy.copy(request)
        shown.method = "GET"  # render the page; the admin would take a POST as a save
        shown._reveal_link = True
        return self.change_view(shown, object_id)

    @admin.display(description="golden record", ordering="golden_code")
    def golden_record_column(self, obj) -> str:
        label = f"{obj.domain} {obj.golden_code or f'#{obj.golden_id} (missing)'}"
        url = golden_change_url(obj.domain, obj.golden_id) if obj.golden_code else None
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.display(description="last payload")
    def payload_display(self, obj) -> str:
        """Masked first; clear only on the page the Reveal button returned (audited there)."""
        payload = obj.last_payload
        domain, record = _sensitive_record(obj)
        viewer = getattr(obj, "viewer", None)
        allowed = record is not None and viewer is not None and access.can_act_on(viewer, record, "view_sensitive")
        button = note = ""
        if record is not None and not (allowed and getattr(obj, "revealed", False)):
            payload = sensitive.masked_payload(payload, domain, sensitive.current_values(record).values())
            if allowed:  # the change form wraps this field: the button posts it to the reveal view
                opts = self.model._meta
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_reveal", args=[obj.pk])
                button = format_html(
                    '<div class="reveal-form"><button type="submit" name="_reveal" value="1" class="button" '
                    'formaction="{}" formnovalidate>Reveal sensitive values (audited)</button></div>',
                    url,
                )
        elif record is not None:
            note = format_html('<p class="help reveal-note">{}</p>', REVEALED_NOTE)
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
        return format_html("{}<pre>{}</pre>{}", note, text, button)

    @admin.display(description="golden record")
    def golden_record_display(self, obj) -> str:
        if obj.pk is None or obj.domain not in registry:
            return "—"
        record = obj.golden_record
        if record is None:
            return f"{obj.domain} #{obj.golden_id} (missing)"
        url = golden_change_url(obj.domain, record.pk)
        return format_html('<a href="{}">{}</a>', url, record) if url else str(record)
