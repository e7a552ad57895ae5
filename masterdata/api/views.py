"""The golden-record API, one viewset class derived per registered domain.

Views translate HTTP to service calls: reads are scoped by ``services.access``, writes go
through ``services.golden``; ETag/If-Match carry the record's version.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import models
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter
from rest_framework.response import Response

from masterdata.api.exceptions import PreconditionFailed
from masterdata.api.filters import StrictOrderingFilter, build_filterset
from masterdata.api.pagination import HistoryCursorPagination
from masterdata.api.serializers import HistoryEntrySerializer, SourceLinkSerializer
from masterdata.models import SourceLink
from masterdata.registry import Domain
from masterdata.services import access, golden, history

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')


def parse_version_header(value: str | None, header: str) -> int | None:
    """``If-Match: "3"`` (or ``W/"3"`` or ``3``) → 3; absent or ``*`` → None."""
    if value is None or value.strip() in ("", "*"):
        return None
    match = _ETAG.match(value.split(",")[0])
    if not match:
        raise ValidationError({header: [f'Expected the version ETag, e.g. "3"; got {value!r}.']})
    return int(match.group(1))


def etag(version: int) -> str:
    return f'"{version}"'


class DomainPermission(permissions.BasePermission):
    """Model permission for the request's action, then org-unit scope for the object."""

    ACTIONS = {
        "GET": "view",
        "HEAD": "view",
        "OPTIONS": "view",
        "POST": "add",
        "PUT": "change",
        "PATCH": "change",
        "DELETE": "change",
    }

    def has_permission(self, request, view) -> bool:
        action_name = self.ACTIONS.get(request.method, "change")
        if getattr(view, "action", None) in ("deactivate", "reactivate"):
            action_name = "change"
        return access.has_domain_permission(request.user, view.domain, action_name)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True  # the queryset is already scoped to what the user may view
        return access.can_act_on(request.user, obj, "change")


class GoldenRecordViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """List, read, create, update and deactivate golden records of one domain."""

    domain: Domain
    permission_classes = [permissions.IsAuthenticated, DomainPermission]
    filter_backends = [DjangoFilterBackend, SearchFilter, StrictOrderingFilter]
    current_version: int | None = None

    # --- querysets ----------------------------------------------------------------------------
    def get_queryset(self):
        model = self.domain.model_class
        related = [f.name for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]
        queryset = model.objects.select_related(*related)
        return access.restrict(self.request.user, self.domain, queryset, "view")

    def get_serializer_class(self):
        return self.domain.serializer_class

    def context(self) -> golden.ChangeContext:
        reason = self.request.headers.get("X-Change-Reason", "")[:500] or f"API {self.request.method}"
        return golden.ChangeContext(user=self.request.user, reason=reason, rule="api")

    def expected_version(self) -> int | None:
        return parse_version_header(self.request.headers.get("If-Match"), "If-Match")

    def _respond(self, record, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
        response = Response(self.get_serializer(record).data, status=status_code, headers=headers)
        response["ETag"] = etag(record.version)
        return response

    # --- reads --------------------------------------------------------------------------------
    def retrieve(self, request, *args, **kwargs):
        record = self.get_object()
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match and parse_version_header(if_none_match, "If-None-Match") == record.version:
            response = Response(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = etag(record.version)
            return response
        return self._respond(record)

    # --- writes -------------------------------------------------------------------------------
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = golden.create(self.domain.model_class, dict(serializer.validated_data), self.context())
        location = request.build_absolute_uri(f"{request.path}{record.pk}/")
        return self._respond(record, status.HTTP_201_CREATED, Location=location)

    def _update(self, request, partial: bool) -> Response:
        record = self.get_object()
        expected = self.expected_version()
        self.current_version = record.version
        if expected is not None and expected != record.version:
            raise PreconditionFailed(f"Version {expected} is stale: the record is at version {record.version}.")
        serializer = self.get_serializer(record, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            record = golden.update(record, dict(serializer.validated_data), self.context(), expected)
        except golden.StaleVersion as exc:
            self.current_version = exc.current
            raise
        return self._respond(record)

    @extend_schema(parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)])
    def update(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)])
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, partial=True)

    @extend_schema(
        summary="Deactivate (golden records are never deleted)",
        parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)],
    )
    def destroy(self, request, *args, **kwargs):
        return self._set_status(golden.deactivate)

    def _set_status(self, change) -> Response:
        record = self.get_object()
        self.current_version = record.version
        record = change(record, self.context(), self.expected_version())
        return self._respond(record)

    @extend_schema(request=None, parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)])
    @action(detail=True, methods=["post"])
    def deactivate(self, request, *args, **kwargs):
        """Set the record inactive; it keeps its history and source links."""
        return self._set_status(golden.deactivate)

    @extend_schema(request=None, parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)])
    @action(detail=True, methods=["post"])
    def reactivate(self, request, *args, **kwargs):
        return self._set_status(golden.reactivate)

    # --- history and links --------------------------------------------------------------------
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as_of",
                OpenApiTypes.DATETIME,
                description="Return the record as it stood at this time instead of the list of versions.",
            )
        ],
        responses=HistoryEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=HistoryCursorPagination)
    def history(self, request, *args, **kwargs):
        """Every version of the record, newest first, with the fields each one changed."""
        record = self.get_object()
        as_of_param = request.query_params.get("as_of")
        if as_of_param is not None:
            return self._as_of(record, as_of_param)
        page = self.paginate_queryset(history.versions(record))
        pairs = history.with_changes(list(page))
        serializer = HistoryEntrySerializer(
            [row for row, _ in pairs], many=True, context={"changes": {row.history_id: ch for row, ch in pairs}}
        )
        return self.get_paginated_response(serializer.data)

    def _as_of(self, record, raw: str) -> Response:
        when = parse_datetime(raw.strip().replace(" ", "+"))
        if when is None:
            raise ValidationError({"as_of": [f"Not an ISO 8601 date-time: {raw!r}."]})
        if timezone.is_naive(when):
            when = timezone.make_aware(when, timezone.utc)
        state = history.as_of(record, when)
        if state is None:
            raise Http404("The record did not exist at that time.")
        response = Response(self.get_serializer(state).data)
        response["ETag"] = etag(state.version)
        return response

    @extend_schema(responses=SourceLinkSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def links(self, request, *args, **kwargs):
        """The record's cross-references in the source systems, with their last payloads."""
        record = self.get_object()
        links = SourceLink.objects.filter(domain=self.domain.name, golden_id=record.pk).select_related("source")
        return Response(SourceLinkSerializer(links, many=True).data)


def build_viewset(domain: Domain) -> type[GoldenRecordViewSet]:
    """A viewset class for ``domain`` with its filters, search and ordering from the registry."""
    attrs: dict[str, Any] = {
        "domain": domain,
        "filterset_class": build_filterset(domain),
        "search_fields": list(domain.search_fields),
        "ordering_fields": list(domain.ordering_fields),
        "ordering": ["id"],
        "__doc__": f"Golden records of the {domain.verbose_name} domain.",
    }
    viewset = type(f"{domain.model_class.__name__}ViewSet", (GoldenRecordViewSet,), attrs)
    plural = domain.model_class._meta.verbose_name_plural
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", tags=[domain.api_path]),
        retrieve=extend_schema(summary=f"Read one {domain.verbose_name}", tags=[domain.api_path]),
        create=extend_schema(summary=f"Create a {domain.verbose_name}", tags=[domain.api_path]),
        update=extend_schema(tags=[domain.api_path]),
        partial_update=extend_schema(tags=[domain.api_path]),
        destroy=extend_schema(tags=[domain.api_path]),
        deactivate=extend_schema(tags=[domain.api_path]),
        reactivate=extend_schema(tags=[domain.api_path]),
        history=extend_schema(tags=[domain.api_path]),
        links=extend_schema(tags=[domain.api_path]),
    )(viewset)
