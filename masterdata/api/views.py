"""The golden-record API, one viewset class derived per registered domain.

Views translate HTTP to service calls: reads are scoped by ``services.access``, writes go
through ``services.golden``; ETag/If-Match carry the record's version. The services' refusals
become HTTP statuses in ``masterdata.api.exceptions``. Sensitive fields are masked unless the
user may read them; every answer that carries clear sensitive values is audited once
(``services.sensitive``).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

from django.db import models
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter
from rest_framework.response import Response
from rest_framework.reverse import reverse

from masterdata.api.filters import StrictOrderingFilter, build_filterset
from masterdata.api.pagination import HistoryCursorPagination
from masterdata.api.serializers import (
    HistoryEntrySerializer,
    HistoryPageSerializer,
    RevealSerializer,
    SourceLinkSerializer,
    unstorable_text,
)
from masterdata.models import SourceLink
from masterdata.models.base import loading_for_display
from masterdata.registry import Domain
from masterdata.services import access, golden, history, sensitive

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,10})"?$')
MAX_REASON_LENGTH = 500

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='The version you edit, as its ETag (`"3"`). A stale version is refused with 412.',
)
CHANGE_REASON = OpenApiParameter(
    "X-Change-Reason", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Why; kept in the record's history."
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Answer 304 if the version is unchanged."
)


def _etags(value: str, header: str) -> list[int]:
    versions = []
    for item in value.split(","):
        match = _ETAG.match(item.strip())
        if not match:
            raise ValidationError({header: [f'Expected the version ETag, e.g. "3"; got {value[:80]!r}.']})
        versions.append(int(match.group(1)))
    return versions


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "3"`` (or ``W/"3"`` or ``3``) → 3; absent or ``*`` → None (no precondition)."""
    if value is None or value.strip() in ("", "*"):
        return None
    versions = _etags(value, "If-Match")
    if len(versions) != 1:
        raise ValidationError({"If-Match": ["Give exactly one version: the one you edit."]})
    return versions[0]


def none_match(value: str | None, version: int) -> bool:
    """True when ``If-None-Match`` names the current version (or ``*``): the client's copy is current."""
    if value is None or not value.strip():
        return False
    return value.strip() == "*" or version in _etags(value, "If-None-Match")


def etag(version: int) -> str:
    return f'"{version}"'


def change_reason(request) -> str:
    """``X-Change-Reason``, read as UTF-8 (WSGI hands headers over as Latin-1), trimmed."""
    raw = request.META.get("HTTP_X_CHANGE_REASON", "")
    with contextlib.suppress(UnicodeError):  # not UTF-8 bytes: keep the header as the server decoded it
        raw = raw.encode("latin-1").decode("utf-8")
    problem = unstorable_text(raw, "X-Change-Reason")
    if problem:
        raise ValidationError({"X-Change-Reason": [problem]})
    return raw.strip()[:MAX_REASON_LENGTH]


def parse_as_of(raw: str) -> datetime:
    """An ISO 8601 date-time (naive means UTC; a ``+`` decoded as a space is put back)."""
    try:
        when = parse_datetime(raw.strip().replace(" ", "+"))
    except ValueError:
        when = None  # well-formed but impossible, e.g. month 13
    if when is None:
        raise ValidationError({"as_of": [f"Not an ISO 8601 date-time: {raw[:80]!r}."]})
    if timezone.is_naive(when):
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise ValidationError({"as_of": [f"Out of range: {raw[:80]!r}."]}) from None


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

    #: POST actions that only read (the service checks their own scope, e.g. ``view_sensitive``).
    READING_ACTIONS = ("reveal",)

    def has_permission(self, request, view) -> bool:
        action_name = self.ACTIONS.get(request.method, "change")
        if getattr(view, "action", None) in ("deactivate", "reactivate"):
            action_name = "change"
        if getattr(view, "action", None) in self.READING_ACTIONS:
            action_name = "view"
        return access.has_domain_permission(request.user, view.domain, action_name)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", None) in self.READING_ACTIONS:
            return True  # the queryset is already scoped to what the user may view
        return access.can_act_on(request.user, obj, "change")


class GoldenRecordViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """List, read, create, update and deactivate golden records of one domain."""

    domain: Domain
    permission_classes = [permissions.IsAuthenticated, DomainPermission]
    filter_backends = [DjangoFilterBackend, SearchFilter, StrictOrderingFilter]

    def dispatch(self, request, *args, **kwargs):
        """A read loads records only to show them: no change-tracking snapshot (see ``loading_for_display``)."""
        if request.method in permissions.SAFE_METHODS:
            with loading_for_display():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    # --- querysets ----------------------------------------------------------------------------
    def get_queryset(self):
        model = self.domain.model_class
        if getattr(self, "swagger_fake_view", False):
            return model.objects.none()  # schema generation: no user, no scope
        relations = self.rendered_relations()
        queryset = model.objects.select_related(*relations)
        if self.request.method in permissions.SAFE_METHODS:
            queryset = queryset.defer(*self.unrendered_columns(relations))
        return access.restrict(self.request.user, self.domain, queryset, "view")

    def rendered_relations(self) -> list[str]:
        """Foreign keys the serializer renders by business key: joined, not fetched per row.

        ``merged_into`` renders as an id, which the row already holds.
        """
        model = self.domain.model_class
        return [
            f.name for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey) and f.name != "merged_into"
        ]

    def unrendered_columns(self, relations: list[str]) -> list[str]:
        """The joined records' columns a read never shows (all but id and code).

        A page of 50 customers otherwise also loads 50 org units whole, JSON columns decoded and
        copied for change tracking, only for their codes.
        """
        model = self.domain.model_class
        return [
            f"{name}__{f.name}"
            for name in relations
            for f in model._meta.get_field(name).related_model._meta.concrete_fields
            if not f.primary_key and f.name != "code"
        ]

    def filter_queryset(self, queryset):
        """Filter backends only when a parameter other than the paginator's is given.

        Each backend reads only its own parameters and leaves the queryset as it is without them
        (the default ordering is applied by the paginator, which asks the ordering filter for it),
        while django-filter builds and validates a whole form per request to find that out.
        """
        paginator = self.paginator if self.action == "list" else None
        own = {paginator.cursor_query_param, paginator.page_size_query_param} if paginator is not None else set()
        if not set(self.request.query_params) - own:
            return queryset
        return super().filter_queryset(queryset)

    def get_serializer_class(self):
        return self.domain.serializer_class

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.revealed: list[tuple[Any, list[str]]] = []  # (record, fields) shown in clear by this answer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "revealed": getattr(self, "revealed", None)}

    def finalize_response(self, request, response, *args, **kwargs):
        """One audit event for all clear sensitive values this answer carries (none when it failed)."""
        revealed = getattr(self, "revealed", None)
        if revealed and 200 <= response.status_code < 300:
            fields = {name for _, names in revealed for name in names}
            records = list({id(record): record for record, _ in revealed}.values())
            sensitive.audit_reveal(self.domain, records, fields, via=f"api {self.action}", request=request)
            revealed.clear()
        return super().finalize_response(request, response, *args, **kwargs)

    def change_context(self) -> golden.ChangeContext:
        reason = change_reason(self.request) or f"API {self.request.method}"
        return golden.ChangeContext(user=self.request.user, reason=reason, rule="api")

    def expected_version(self) -> int | None:
        return parse_if_match(self.request.headers.get("If-Match"))

    def _respond(self, record, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
        response = Response(self.get_serializer(record).data, status=status_code, headers=headers)
        response["ETag"] = etag(record.version)
        return response

    # --- reads --------------------------------------------------------------------------------
    @extend_schema(parameters=[IF_NONE_MATCH])
    def retrieve(self, request, *args, **kwargs):
        record = self.get_object()
        if none_match(request.headers.get("If-None-Match"), record.version):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(record.version)})
        return self._respond(record)

    # --- writes -------------------------------------------------------------------------------
    @extend_schema(parameters=[CHANGE_REASON])
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = golden.create(self.domain.model_class, dict(serializer.validated_data), self.change_context())
        location = reverse(f"{self.basename}-detail", args=[record.pk], request=request)
        return self._respond(record, status.HTTP_201_CREATED, Location=location)

    def _update(self, request, partial: bool) -> Response:
        record = self.get_object()
        expected = self.expected_version()
        golden.check_version(record, expected)  # stale: 412 before any validation error
        serializer = self.get_serializer(record, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        sensitive.check_change(request.user, record, data)
        record = golden.update(record, data, self.change_context(), expected)
        return self._respond(record)

    @extend_schema(parameters=[IF_MATCH, CHANGE_REASON])
    def update(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(parameters=[IF_MATCH, CHANGE_REASON])
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, partial=True)

    @extend_schema(
        summary="Deactivate (golden records are never deleted)",
        description="Same as POST …/deactivate/: the record becomes inactive and keeps its history and links.",
        parameters=[IF_MATCH, CHANGE_REASON],
    )
    def destroy(self, request, *args, **kwargs):
        return self._set_status(golden.deactivate)

    def _set_status(self, change) -> Response:
        record = self.get_object()
        record = change(record, self.change_context(), self.expected_version())
        return self._respond(record)

    @extend_schema(request=None, parameters=[IF_MATCH, CHANGE_REASON])
    @action(detail=True, methods=["post"])
    def deactivate(self, request, *args, **kwargs):
        """Set the record inactive; it keeps its history and source links."""
        return self._set_status(golden.deactivate)

    @extend_schema(request=None, parameters=[IF_MATCH, CHANGE_REASON])
    @action(detail=True, methods=["post"])
    def reactivate(self, request, *args, **kwargs):
        """Set an inactive record active again."""
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
            return self._as_of(record, parse_as_of(as_of_param))
        page = self.paginate_queryset(history.versions(record))
        pairs = history.with_changes(list(page))
        clear = sensitive.scope_for(request).allows(self.domain, record)
        shown = {c["field"] for _, changes in pairs for c in changes if c["field"] in self.domain.sensitive_fields}
        if clear and shown:
            self.revealed.append((record, sorted(shown)))
        serializer = HistoryEntrySerializer(
            [row for row, _ in pairs],
            many=True,
            context={
                "changes": {row.history_id: ch for row, ch in pairs},
                "masked_fields": () if clear else self.domain.sensitive_fields,
            },
        )
        return self.get_paginated_response(serializer.data)

    def _as_of(self, record, when: datetime) -> Response:
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
        context = {"mask_payload": True, "sensitive_values": list(sensitive.current_values(record).values())}
        return Response(SourceLinkSerializer(links, many=True, context=context).data)

    @extend_schema(
        request=None,
        responses=RevealSerializer,
        description="The clear values of the record's sensitive fields, for users who may read them. Audited.",
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def reveal(self, request, *args, **kwargs):
        """Reveal the sensitive fields of one record (an audit event names you, the record and the fields)."""
        record = self.get_object()
        values = sensitive.reveal(request.user, record, via="api reveal", request=request)
        return Response({"id": record.pk, "version": record.version, "values": values})


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
    tags = [domain.api_path]
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", tags=tags),
        retrieve=extend_schema(
            summary=f"Read one {domain.verbose_name}",
            tags=tags,
            responses={200: domain.serializer_class, 304: OpenApiResponse(description="Your copy is current.")},
        ),
        create=extend_schema(summary=f"Create a {domain.verbose_name}", tags=tags),
        update=extend_schema(summary=f"Replace a {domain.verbose_name}", tags=tags),
        partial_update=extend_schema(summary=f"Change fields of a {domain.verbose_name}", tags=tags),
        destroy=extend_schema(tags=tags, responses={200: domain.serializer_class}),  # answers the deactivated record
        deactivate=extend_schema(summary=f"Deactivate a {domain.verbose_name}", tags=tags),
        reactivate=extend_schema(summary=f"Reactivate a {domain.verbose_name}", tags=tags),
        history=extend_schema(
            summary=f"History of a {domain.verbose_name}",
            tags=tags,
            responses=PolymorphicProxySerializer(  # a page of versions, or with as_of the record as it stood
                component_name=f"{domain.model_class.__name__}HistoryOrVersion",
                serializers=[HistoryPageSerializer, domain.serializer_class],
                resource_type_field_name=None,
            ),
        ),
        links=extend_schema(summary=f"Source links of a {domain.verbose_name}", tags=tags),
        reveal=extend_schema(summary=f"Reveal the sensitive fields of a {domain.verbose_name}", tags=tags),
    )(viewset)
