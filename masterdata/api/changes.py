"""``GET /api/v1/changes/``: the change feed for consumers, resumable at an exact position.

A consumer stores the ``next`` position of each answer and sends it back as ``after``; it
receives every change exactly once, in commit order, even across restarts
(:mod:`masterdata.services.changefeed`). Events name what changed, not the values: the record
is read from its own endpoint, where the same permissions apply. A consumer sees the events of
the domains it may view and of the records owned inside its org-unit scope.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from masterdata.models import ChangeEvent
from masterdata.registry import registry
from masterdata.services import changefeed

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class ChangeEventSerializer(serializers.ModelSerializer):
    origin_source = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    record = serializers.SerializerMethodField(help_text="The record's API URL.")

    class Meta:
        model = ChangeEvent
        fields = ["id", "domain", "golden_id", "version", "kind", "changed_fields", "origin_source", "occurred_at",
                  "record"]  # fmt: skip

    def get_record(self, event: ChangeEvent) -> str:
        domain = registry.get(event.domain)
        return reverse(f"{domain.name}-detail", args=[event.golden_id], request=self.context.get("request"))


class ChangeFeedSerializer(serializers.Serializer):
    events = ChangeEventSerializer(many=True)
    next = serializers.CharField(help_text="The position after these events: send it back as `after`.")
    has_more = serializers.BooleanField(help_text="More events are already waiting: ask again at once.")


class ChangeFeedView(APIView):
    @extend_schema(
        operation_id="changes_list",
        summary="Change events after a position",
        parameters=[
            OpenApiParameter(
                "after", OpenApiTypes.STR, description="The `next` of the previous answer; omit to start at the oldest."
            ),
            OpenApiParameter(
                "domain", OpenApiTypes.STR, description="Only these domains (repeat or comma-separate).", many=True
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most this many events (1–{MAX_LIMIT})."),
        ],
        responses=ChangeFeedSerializer,
        tags=["changes"],
    )
    def get(self, request) -> Response:
        domains = [d.strip() for value in request.query_params.getlist("domain") for d in value.split(",") if d.strip()]
        unknown = [d for d in domains if d not in registry]
        if unknown:
            raise ValidationError({"domain": [f"Unknown domain {unknown[0]!r}."]})
        limit = self._limit(request.query_params.get("limit"))
        events = ChangeEvent.objects.filter(changefeed.scope(request.user, domains)).select_related("origin_source")
        try:
            page = changefeed.read(request.query_params.get("after"), limit=limit, events=events)
        except changefeed.InvalidPosition as exc:
            raise ValidationError({"after": [str(exc)]}) from None
        data = {"events": page.events, "next": page.position, "has_more": page.has_more}
        return Response(ChangeFeedSerializer(data, context={"request": request}).data)

    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw in (None, ""):
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError({"limit": [f"Must be an integer from 1 to {MAX_LIMIT}."]})
        return limit
