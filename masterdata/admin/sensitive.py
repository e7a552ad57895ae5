"""Sensitive fields in the golden-record admin: masked on the change form, revealed on request (audited).

The change form never renders a sensitive value: the field shows its mask (``••••1234``), and
sending the mask back keeps the value, so a steward edits other fields without ever seeing or
retyping it; typing a new value replaces it. A user who may read the values in clear (the
``view_sensitive`` scope on the record's org unit) has a "Reveal" link to a page that shows
them after a confirmation — each reveal is an audit event.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods

from masterdata.fields import SensitiveField
from masterdata.registry import registry
from masterdata.services import audit, golden, sensitive

#: The POST field of the "Reveal sensitive values (audited)" button the workspace screens share.
REVEAL_FIELD = "_reveal"


def asks_to_reveal(request) -> bool:
    """Did the user press the screen's reveal button? (A POST: a link or a prefetch never reveals.)"""
    return request.method == "POST" and REVEAL_FIELD in request.POST


def reveal_on_screen(request, domain, record, *, allowed: bool, screen: str, fields: Any = None) -> bool:
    """Show ``record``'s sensitive values in clear on this response? Only after the button, and audited.

    Workspace screens (record page, version diff, conflict, failure) mask sensitive values even
    for users who may read them: the clear values appear when the user asks, and each time one
    audit event names the user, the record, the fields and the screen.
    """
    if not (allowed and domain.sensitive_fields and asks_to_reveal(request)):
        return False
    shown = domain.sensitive_fields if fields is None else fields
    sensitive.audit_reveal(domain, [record], shown, via=f"admin {screen}", request=request)
    return True


class SensitiveFormMixin:
    """ModelForm mixin: sensitive fields start from their mask; the mask sent back keeps the value."""

    MASKED_HELP = "Shown masked: leave it as it is to keep the value, or type the new value."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sensitive_current: dict[str, str] = {}
        try:
            domain = registry.for_model(self._meta.model)
        except LookupError:
            return
        if self.instance.pk is None:
            return
        for name in domain.sensitive_fields:
            if name in self.fields:
                current = getattr(self.instance, name)
                self.sensitive_current[name] = current
                self.initial[name] = sensitive.mask(current)
                self.fields[name].help_text = self.MASKED_HELP

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, current in self.sensitive_current.items():
            value = cleaned.get(name)
            if not sensitive.is_masked(value):
                continue
            if value == sensitive.mask(current):
                cleaned[name] = current
            else:
                self.add_error(name, "Type the full value, not a masked one.")
        return cleaned


class SensitiveAdminMixin:
    """ModelAdmin mixin for golden records: the masked values, the reveal link and the reveal page."""

    reveal_template = "admin/golden/reveal_sensitive.html"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        """A one-line input (the admin would give text columns a textarea) that browsers do not autofill."""
        if isinstance(db_field, SensitiveField):
            kwargs.setdefault("widget", forms.TextInput(attrs={"class": "vTextField", "autocomplete": "off"}))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def sensitive_readonly_fields(self) -> tuple[str, ...]:
        return ("sensitive_values",) if self.domain.sensitive_fields else ()

    def sensitive_values(self, obj) -> str:
        """Each sensitive field masked; a reveal link for users who may read them in clear."""
        if obj is None or obj.pk is None:
            return "—"
        rows = format_html_join(
            "",
            "<li>{}: <code>{}</code></li>",
            ((name, sensitive.mask(getattr(obj, name)) or "—") for name in self.domain.sensitive_fields),
        )
        request = audit.current_request()  # a display callable is given no request
        link = ""
        if request is not None and self.may_see_sensitive(request, obj):
            opts = self.model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_reveal", args=[obj.pk])
            link = format_html(' <a class="button" href="{}">Reveal (audited)</a>', url)
        return format_html("<ul>{}</ul>{}", rows, link)

    sensitive_values.short_description = "sensitive values"  # type: ignore[attr-defined]

    def get_urls(self):
        opts = self.model._meta
        view = self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.reveal_view))
        own = [path("<path:object_id>/reveal/", view, name=f"{opts.app_label}_{opts.model_name}_reveal")]
        return own + super().get_urls()

    def reveal_view(self, request, object_id: str):
        """GET: confirm; POST: show the clear values and write the audit event."""
        record = self.get_object(request, unquote(object_id))
        if record is None or not self.domain.sensitive_fields:
            raise Http404(f"No {self.domain.verbose_name} with sensitive fields and id {object_id!r}.")
        if not self.may_see_sensitive(request, record):
            raise PermissionDenied("You may not reveal sensitive fields of records of this org unit.")
        values = None
        if request.method == "POST":
            try:
                values = sensitive.reveal(request.user, record, via="admin", request=request)
            except golden.OutOfScope as exc:
                raise PermissionDenied(exc.message) from exc
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": record,
            "title": f"Sensitive values of {record}",
            "values": values,
            "fields": self.domain.sensitive_fields,
            "change_url": reverse(
                f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_change", args=[record.pk]
            ),
        }
        return TemplateResponse(request, self.reveal_template, context)
