"""The organisation tree: org units (a golden-record domain) and its closure table."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from .base import GoldenRecord, golden_constraints, golden_indexes


class OrgUnitType(models.TextChoices):
    GROUP = "group", "Group"
    COMPANY = "company", "Company"
    DEPARTMENT = "department", "Department"
    COST_CENTRE = "cost_centre", "Cost centre"


class OrgUnit(GoldenRecord):
    """A node of the group's organisation tree: group ▸ companies ▸ departments ▸ cost centres.

    Object permissions are granted on org units and inherited by their subtree and by the
    records the subtree owns (see ``masterdata.services.access``).
    """

    name = models.CharField(max_length=200)
    unit_type = models.CharField(max_length=20, choices=OrgUnitType.choices, default=OrgUnitType.DEPARTMENT)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    manager = models.ForeignKey(
        "masterdata.Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_units"
    )
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)

    class Meta(GoldenRecord.Meta):
        verbose_name = "org unit"
        constraints = golden_constraints(
            "orgunit",
            [
                models.CheckConstraint(
                    condition=models.Q(valid_to__isnull=True)
                    | models.Q(valid_from__isnull=True)
                    | models.Q(valid_to__gte=models.F("valid_from")),
                    name="orgunit_valid_range",
                ),
                models.CheckConstraint(condition=~models.Q(parent=models.F("id")), name="orgunit_not_own_parent"),
                models.CheckConstraint(
                    condition=models.Q(unit_type__in=[t.value for t in OrgUnitType]), name="orgunit_type_valid"
                ),
            ],
        )
        indexes = golden_indexes("orgunit", "unit_type", "name")
        permissions = [
            ("resolve_orgunit", "Can resolve conflicts and failed syncs of records in this org unit"),
            ("view_sensitive_orgunit", "Can reveal sensitive fields of records in this org unit"),
            ("grant_orgunit", "Can grant and revoke access to org units"),
        ]

    def clean(self) -> None:
        super().clean()
        if self.parent_id and self.pk:
            from masterdata.services.orgtree import is_descendant

            if self.parent_id == self.pk or is_descendant(self.parent_id, of=self.pk):
                raise ValidationError({"parent": "An org unit cannot be placed under itself or its own subtree."})

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save and, when the unit is new or changed parent, rewrite its subtree's closure rows."""
        from masterdata.services.orgtree import TreeCycleError, place_in_tree

        if self.pk is not None and self.parent_id == self.pk:
            raise TreeCycleError(f"Org unit {self.code} cannot be its own parent.")
        loaded = getattr(self, "_loaded_values", None)
        placed = not self._state.adding and loaded is not None and "parent_id" in loaded
        old_parent = loaded["parent_id"] if placed else None
        update_fields = kwargs.get("update_fields")
        parent_saved = update_fields is None or {"parent", "parent_id"} & set(update_fields)
        with transaction.atomic():
            super().save(*args, **kwargs)
            if parent_saved and (not placed or old_parent != self.parent_id):
                place_in_tree(self)


class OrgUnitClosure(models.Model):
    """Every (ancestor, descendant) pair of the org tree, itself included (depth 0).

    Lets "everything under the org units this user was granted" be one indexed subquery
    instead of a recursive walk per request.
    """

    # Indexed by the unique pair (ancestor first) and orgclosure_desc_idx (descendant first).
    ancestor = models.ForeignKey(OrgUnit, on_delete=models.CASCADE, related_name="+", db_index=False)
    descendant = models.ForeignKey(OrgUnit, on_delete=models.CASCADE, related_name="+", db_index=False)
    depth = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ancestor", "descendant"], name="orgunitclosure_unique_pair")]
        indexes = [models.Index(fields=["descendant", "ancestor"], name="orgclosure_desc_idx")]

    def __str__(self) -> str:
        return f"{self.ancestor_id} ⊇ {self.descendant_id} ({self.depth})"
