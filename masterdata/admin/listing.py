"""Cheaper change-list pages for the admins stewards page through all day.

Django renders each row's action checkbox through the form-widget template engine (a template
lookup and render per row); on a 50-row page that was about a sixth of the page's CPU. The
mixin writes the same markup with ``format_html`` — a test compares it with Django's own.

:class:`DisplayChangeList` loads only what a golden-record list shows and links its rows
without a URL reverse per row; :class:`RowRenderer` writes the rows' cells with the per-page
work done once (``{% golden_result_list %}`` in ``admin/golden/change_list.html``). The page is
the same, byte for byte: tests compare the rows with Django's.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

from django.contrib.admin import helpers
from django.contrib.admin import utils as admin_utils
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from masterdata.models.base import GoldenRecord

#: Stands for the primary key in the change URL reversed once per page (letters and ``_`` only:
#: the URL resolver leaves them as they are).
_PK_PLACEHOLDER = "__mdm_pk__"


class FastActionCheckboxMixin:
    """``action_checkbox`` without a widget template: identical HTML, a string format per row."""

    def action_checkbox(self, obj: Any) -> SafeString:
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


def costly_unshown_fields(model: type[models.Model], shown: set[str]) -> list[str]:
    """Columns of ``model`` that cost CPU to load (JSON decoding, decryption) and are not in ``shown``.

    Only for golden records whose ``__str__`` is the base one (code and name): the row's label and
    checkbox then read nothing that is deferred, so no row ever loads a deferred column on its own.
    """
    if not (issubclass(model, GoldenRecord) and model.__str__ is GoldenRecord.__str__):
        return []
    return [
        field.name
        for field in model._meta.concrete_fields
        if hasattr(field, "from_db_value") and not field.primary_key and field.name not in shown
    ]


class DisplayChangeList(ChangeList):
    """The change list of golden records: same page, less work per row.

    * A page that only shows records (GET) defers the columns it does not show whose loading
      costs CPU — ``attributes``, ``provenance``, ``locked_fields`` as JSON, sensitive fields
      such as a supplier's bank account decrypted per row — on the records and on the related
      rows joined for a column (the owning org unit). Posting an action loads full records.
    * Each row links to its change page: Django reverses that URL per row; here it is reversed
      once per page with a placeholder for integer keys (others take Django's way).
    """

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        if request.method not in ("GET", "HEAD"):
            return queryset
        deferred = self._deferred_fields()
        return queryset.defer(*deferred) if deferred else queryset

    def _deferred_fields(self) -> list[str]:
        shown = {name for name in self.list_display if isinstance(name, str)}
        deferred = costly_unshown_fields(self.model, shown)
        joined = self.list_select_related if isinstance(self.list_select_related, list | tuple) else ()
        for name in joined:
            if "__" in name:
                continue
            related = self.lookup_opts.get_field(name).related_model
            deferred += [f"{name}__{field}" for field in costly_unshown_fields(related, set())]
        return deferred

    def url_for_result(self, result) -> str:
        pk = getattr(result, self.pk_attname)
        if type(pk) is not int:
            return super().url_for_result(result)
        if not hasattr(self, "_change_url_parts"):
            url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=(_PK_PLACEHOLDER,),
                current_app=self.model_admin.admin_site.name,
            )
            parts = url.split(_PK_PLACEHOLDER)
            self._change_url_parts = (parts[0], parts[1]) if len(parts) == 2 else None
        if self._change_url_parts is None:
            return super().url_for_result(result)
        before, after = self._change_url_parts
        return f"{before}{quote(pk)}{after}"


class RowRenderer:
    """The cells of a golden-record list's rows, as Django's ``items_for_result`` writes them.

    Django redoes per cell what is the same for the whole page: the column's field and CSS
    class, whether it links, the choices' labels, the empty-value text, the filters carried
    into each row's link (a URL resolve per row when the list is filtered). Here those are
    worked out once per page; the values are still formatted by Django's ``display_for_field``
    and ``display_for_value``, so dates, numbers and escaping are Django's own. A test compares
    every domain's rows with Django's. Lists Django renders differently (editable, popup) are
    left to Django.
    """

    def __init__(self, cl: ChangeList) -> None:
        self.cl = cl
        self.empty = cl.model_admin.get_empty_value_display()
        self.columns: list[tuple[Any, ...]] = []
        self.link_tail: str | None = None
        first = True
        for index, name in enumerate(cl.list_display):
            link = self._links(first, name)
            tag = ("th" if first else "td") if link else ""
            first = first and not link
            field = self._plain_field(name)
            css = f"field-{admin_list._coerce_field_name(name, index)}"
            if field is None:
                self.columns.append((name, None, None, css, link, tag))
                continue
            classes = [css]
            if isinstance(field, models.DateField | models.TimeField | models.ForeignKey):
                classes.append("nowrap")
            choices = dict(field.flatchoices) if getattr(field, "flatchoices", None) else None
            self.columns.append((name, field, choices, f' class="{" ".join(classes)}"', link, tag))

    def _links(self, first: bool, name: Any) -> bool:
        links = self.cl.list_display_links
        if links is None:
            return False
        if first and not links:
            return True
        return name in links

    def _plain_field(self, name: Any) -> models.Field | None:
        """The model field a column shows, when Django reads it straight off the record."""
        if not isinstance(name, str):
            return None
        try:
            field = admin_utils._get_non_gfk_field(self.cl.lookup_opts, name)
        except (FieldDoesNotExist, admin_utils.FieldIsAForeignKeyColumnName):
            return None
        return None if field.auto_created else field

    def items(self, result: Any) -> list[SafeString]:
        cells = []
        for name, field, choices, css, link, tag in self.columns:
            if field is None:
                shown, css = self._computed(name, result, css, link)
            else:
                shown = self._field_value(result, name, field, choices, link)
            if link:
                cells.append(mark_safe(f"<{tag}{css}>{conditional_escape(self._linked(result, shown))}</{tag}>"))
            else:
                cells.append(mark_safe(f"<td{css}>{conditional_escape(shown)}</td>"))
        return cells

    def _linked(self, result: Any, shown: Any) -> Any:
        """The link to the record's change page, with the list's filters carried along (as Django does)."""
        try:
            url = self.cl.url_for_result(result)
        except NoReverseMatch:
            return shown
        context = {"preserved_filters": self.cl.preserved_filters, "opts": self.cl.opts}
        if type(getattr(result, self.cl.pk_attname)) is int and "?" not in url and "#" not in url:
            # Every row's URL has the same shape: what the filters add to one, they add to all.
            if self.link_tail is None:
                full = add_preserved_filters(context, url)
                self.link_tail = full[len(url) :] if full.startswith(url) else ""
                return format_html('<a href="{}">{}</a>', full, shown)
            url = url + self.link_tail
        else:
            url = add_preserved_filters(context, url)
        return format_html('<a href="{}">{}</a>', url, shown)

    def _field_value(self, result: Any, name: str, field: models.Field, choices: dict | None, link: bool) -> Any:
        value = getattr(result, name)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        if choices is not None:
            with contextlib.suppress(TypeError):  # an unhashable (list-like) value: Django's own way below
                return choices.get(value, self.empty)
        return _display_field(result, field, value, self.empty, link)

    def _computed(self, name: Any, result: Any, css: str, link: bool) -> tuple[Any, str]:
        """A column that is not a plain field (a method, a callable): exactly Django's branch."""
        classes = [css]
        try:
            field, attr, value = admin_utils.lookup_field(name, result, self.cl.model_admin)
        except ObjectDoesNotExist:
            return self.empty, f' class="{css}"'
        empty = getattr(attr, "empty_value_display", self.empty)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        if field is None or field.auto_created:
            if name == "action_checkbox":
                classes = ["action-checkbox"]
            boolean = getattr(attr, "boolean", False)
            if isinstance(attr, property) and hasattr(attr, "fget"):
                boolean = getattr(attr.fget, "boolean", False)
            shown = admin_utils.display_for_value(value, empty, boolean)
            if isinstance(value, datetime.date | datetime.time):
                classes.append("nowrap")
        else:
            shown = _display_field(result, field, value, empty, link)
            if isinstance(field, models.DateField | models.TimeField | models.ForeignKey):
                classes.append("nowrap")
        return shown, f' class="{" ".join(classes)}"'


def _display_field(result: Any, field: models.Field, value: Any, empty: str, link: bool) -> Any:
    """A field's cell as Django shows it: the related record itself for a foreign key, else formatted."""
    if isinstance(field.remote_field, models.ManyToOneRel):
        related = getattr(result, field.name)
        return empty if related is None else related
    return admin_utils.display_for_field(value, field, empty, avoid_link=link)


def result_list(cl: ChangeList) -> dict[str, Any]:
    """The context of Django's ``{% result_list %}`` with the rows from :class:`RowRenderer`."""
    if cl.formset or cl.is_popup:
        return admin_list.result_list(cl)
    headers = list(admin_list.result_headers(cl))
    rows = RowRenderer(cl)
    return {
        "cl": cl,
        "result_hidden_fields": list(admin_list.result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": [admin_list.ResultList(None, rows.items(result)) for result in cl.result_list],
    }
