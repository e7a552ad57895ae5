"""Golden-record models of the customer, supplier, material and employee domains (DESIGN §3)."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from masterdata.fields import SensitiveField, blind_index_expression

from .base import GoldenRecord, golden_constraints, golden_indexes

SENSITIVE_HELP = "Sensitive: encrypted at rest, masked unless you may reveal it; found by exact value only."


class Customer(GoldenRecord):
    name = models.CharField(max_length=200)
    tax_id = models.CharField(max_length=64, blank=True, default="")
    credit_rating = models.CharField(max_length=20, blank=True, default="")
    credit_limit = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, blank=True, default="", help_text="ISO 4217 code, e.g. CNY.")
    country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166-1 alpha-2 code.")
    address = models.TextField(blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    last_transaction_date = models.DateField(null=True, blank=True)
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="customers"
    )

    class Meta(GoldenRecord.Meta):
        constraints = golden_constraints(
            "customer",
            [
                models.CheckConstraint(
                    condition=models.Q(credit_limit__isnull=True) | models.Q(credit_limit__gte=0),
                    name="customer_credit_limit_positive",
                )
            ],
        )
        indexes = golden_indexes("customer", "tax_id", "email", "country", "credit_rating", "name")


class Supplier(GoldenRecord):
    name = models.CharField(max_length=200)
    tax_id = models.CharField(max_length=64, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166-1 alpha-2 code.")
    address = models.TextField(blank=True, default="")
    contact_email = models.EmailField(blank=True, default="")
    contact_phone = models.CharField(max_length=40, blank=True, default="")
    bank_account = SensitiveField(max_length=64, help_text=SENSITIVE_HELP)
    payment_terms = models.CharField(max_length=40, blank=True, default="", help_text="e.g. NET30.")
    owner_org = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="suppliers"
    )

    class Meta(GoldenRecord.Meta):
        constraints = golden_constraints("supplier")
        indexes = [
            *golden_indexes("supplier", "tax_id", "country", "contact_email", "name"),
            models.Index(blind_index_expression("bank_account"), name="supplier_bank_account_bidx"),
        ]


class MaterialType(models.TextChoices):
    RAW = "raw", "Raw material"
    SEMI_FINISHED = "semi_finished", "Semi-finished good"
    FINISHED = "finished", "Finished good"
    TRADING = "trading", "Trading good"
    SPARE_PART = "spare_part", "Spare part"
    SERVICE = "service", "Service"
    PACKAGING = "packaging", "Packaging"


class Material(GoldenRecord):
    name = models.CharField(max_length=200)
    specification = models.CharField(max_length=400, blank=True, default="")
    unit_of_measure = models.CharField(max_length=10, default="EA", help_text="e.g. EA, KG, M, L.")
    category = models.CharField(max_length=80, blank=True, default="")
    material_type = models.CharField(max_length=20, choices=MaterialType.choices, default=MaterialType.RAW)

    class Meta(GoldenRecord.Meta):
        constraints = golden_constraints(
            "material",
            [
                models.CheckConstraint(
                    condition=models.Q(material_type__in=[t.value for t in MaterialType]),
                    name="material_type_valid",
                )
            ],
        )
        indexes = golden_indexes("material", "category", "material_type", "unit_of_measure", "name")


class Employee(GoldenRecord):
    """An employee; ``code`` is the employee number."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, default="")
    org_unit = models.ForeignKey(
        "masterdata.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="employees"
    )
    position = models.CharField(max_length=120, blank=True, default="")
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    hire_date = models.DateField(null=True, blank=True)
    leave_date = models.DateField(null=True, blank=True)
    national_id = SensitiveField(max_length=64, help_text=SENSITIVE_HELP)

    class Meta(GoldenRecord.Meta):
        constraints = golden_constraints(
            "employee",
            [
                models.CheckConstraint(
                    condition=models.Q(leave_date__isnull=True)
                    | models.Q(hire_date__isnull=True)
                    | models.Q(leave_date__gte=models.F("hire_date")),
                    name="employee_dates_ordered",
                ),
                models.CheckConstraint(condition=~models.Q(manager=models.F("id")), name="employee_not_own_manager"),
            ],
        )
        indexes = [
            *golden_indexes("employee", "email", "name"),
            models.Index(blind_index_expression("national_id"), name="employee_national_id_bidx"),
        ]
