"""Cursor pagination: stable pages over millions of rows, no COUNT, no deep OFFSET."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class GoldenCursorPagination(CursorPagination):
    ordering = "id"
    page_size_query_param = "page_size"
    #: Appended to every ordering so that rows with equal sort values keep one order across pages.
    tie_breaker = "id"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return min(settings.API_PAGE_SIZE, self.max_page_size)
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]})
        return size

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        ordering = super().get_ordering(request, queryset, view)
        names = {name.lstrip("-") for name in ordering}
        if self.tie_breaker in names:
            return ordering
        descending = ordering[0].startswith("-")
        return (*ordering, f"-{self.tie_breaker}" if descending else self.tie_breaker)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:  # DRF answers a bad cursor with 404; it is a bad parameter
            raise ValidationError({self.cursor_query_param: [str(exc.detail)]}) from None

    def decode_cursor(self, request):
        """DRF's decoding, plus a check that the position fits the ordering field.

        A forged or stale cursor (``p=abc`` while ordering by id, a NUL in a text position)
        would otherwise reach the database as an error instead of being a bad parameter.
        """
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            field.to_python(cursor.position)
        except (FieldDoesNotExist, DjangoValidationError, TypeError, ValueError):
            raise NotFound(self.invalid_cursor_message) from None
        if "\x00" in cursor.position:
            raise NotFound(self.invalid_cursor_message)
        return cursor


class HistoryCursorPagination(GoldenCursorPagination):
    ordering = "-history_id"
    tie_breaker = "history_id"
