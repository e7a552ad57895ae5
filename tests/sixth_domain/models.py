from django.db import models

from masterdata.models.base import GoldenRecord, golden_constraints, golden_indexes


class Plant(GoldenRecord):
    name = models.CharField(max_length=200)
    site_country = models.CharField(max_length=2, blank=True, default="")
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta(GoldenRecord.Meta):
        constraints = golden_constraints("plant")
        indexes = golden_indexes("plant", "site_country")
