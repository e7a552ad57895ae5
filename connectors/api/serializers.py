"""Shapes of the ingest endpoint's answers, for the OpenAPI schema (the service builds the bodies)."""

from __future__ import annotations

from rest_framework import serializers

from connectors.services.ingest import COUNTED


class IngestResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the record in the posted batch (0-based).")
    source_key = serializers.CharField(allow_null=True, help_text="The record's key in the source; null without one.")
    outcome = serializers.ChoiceField(choices=COUNTED)
    golden_id = serializers.IntegerField(allow_null=True, help_text="The golden record it feeds; null if it failed.")
    changed_fields = serializers.ListField(child=serializers.CharField(), required=False)
    conflicts = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Fields now in open conflict because of this record."
    )
    stage = serializers.CharField(required=False, help_text="For failed: map, validate, match or write.")
    error = serializers.CharField(required=False, help_text="For failed: one line for people.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text="Field → messages."
    )


class IngestCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    conflict = serializers.IntegerField()
    duplicate_suspect = serializers.IntegerField()
    superseded = serializers.IntegerField(help_text="Earlier occurrences of a key posted twice in the batch.")
    failed = serializers.IntegerField(help_text="Queued in the failure queue; fix them in the source and post again.")


class IngestResponseSerializer(serializers.Serializer):
    source = serializers.CharField()
    domain = serializers.CharField()
    run = serializers.IntegerField(help_text="The sync run that recorded this batch.")
    received = serializers.IntegerField()
    counts = IngestCountsSerializer()
    results = IngestResultSerializer(many=True)


class IngestErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
