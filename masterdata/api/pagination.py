"""Cursor pagination: stable pages over millions of rows, no COUNT, no deep OFFSET."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class GoldenCursorPagination(CursorPagination):
    ordering = "id"
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": [f"Must be an integer from 1 to {self.max_page_size}."]})
        return size

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:  # DRF answers a bad cursor with 404; it is a bad parameter
            raise ValidationError({"cursor": [str(exc.detail)]}) from None


class HistoryCursorPagination(GoldenCursorPagination):
    ordering = "-history_id"
