"""The ingest endpoint: HTTP in and out; the rules are :mod:`connectors.services.ingest`'s."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors.api.serializers import IngestErrorSerializer, IngestResponseSerializer
from connectors.services import ingest as ingest_service
from connectors.services.ingest import IngestRefused

RECORD_SCHEMA = {"type": "object", "additionalProperties": True, "description": "One record in the source's shape."}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique value per batch (e.g. a UUID), 1–255 visible ASCII characters. Retrying with the same key "
        "returns the first answer (header `Idempotent-Replayed: true`) and writes nothing; the same key with "
        "another body is refused with 422. Keys are kept per user, source and domain for `MDM_INGEST_KEY_DAYS`."
    ),
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(IngestErrorSerializer, description=description)


class IngestView(APIView):
    """Records a source system posts, mapped with its mapping and ingested like a pull."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="ingest_records",
        summary="Post records of a source system (real-time inbound)",
        description=(
            "Send one record (a JSON object) or a batch (a JSON array, at most `MDM_INGEST_MAX_RECORDS`, "
            "default 1000) in the **source's own shape**: the source/domain's mapping turns them into golden "
            "values, then matching, survivorship and conflicts run exactly as in a pull, as one sync run. "
            "The answer is 200 whenever the batch was processed, with one result per record in the order "
            "posted; records that failed are in the failure queue (`counts.failed`). Needs the permission "
            "`connectors.ingest_mapping`, on the model (every source) or on this source/domain's mapping."
        ),
        tags=["ingest"],
        parameters=[
            OpenApiParameter("source", OpenApiTypes.STR, OpenApiParameter.PATH, description="Source system code."),
            OpenApiParameter(
                "domain",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="Domain name (`customer`) or API path (`customers`).",
            ),
            IDEMPOTENCY_KEY,
        ],
        request={
            "application/json": {
                "oneOf": [RECORD_SCHEMA, {"type": "array", "items": RECORD_SCHEMA, "minItems": 1}],
            }
        },
        responses={
            200: OpenApiResponse(IngestResponseSerializer, description="Processed (also a replay of a retried key)."),
            400: _error("No or a malformed Idempotency-Key, a body that is not records, or a batch over the limit."),
            401: _error("Not authenticated."),
            403: _error("No ingest permission for this source/domain."),
            404: _error("Unknown source system or domain."),
            409: _error("The source is inactive, does not feed this domain, or has no active mapping for it."),
            422: _error("The Idempotency-Key was used before with a different body."),
        },
        examples=[
            OpenApiExample(
                "A CRM customer",
                value=[{"id": "C1001", "name": "上海华东贸易有限公司", "credit_score": 720}],
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, source: str, domain: str) -> Response:
        try:
            answer = ingest_service.ingest(
                request.user, source, domain, request.headers.get("Idempotency-Key"), request.data
            )
        except IngestRefused as refusal:
            return Response(refusal.body(), status=refusal.status)
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response
