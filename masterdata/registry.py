"""The domain registry: the one place that lists the master-data domains.

API routes, admin registration, permissions and (later) the sync pipeline and config loader
iterate this registry instead of naming the five domains one by one. Adding a domain means
writing its model (a subclass of :class:`masterdata.models.GoldenRecord`) and one
``registry.register(Domain(...))`` call; everything else (serializer, filters, admin, history,
routes) is derived unless the entry names its own.

Classes are referenced by dotted path and resolved lazily so that this module can be imported
from anywhere (settings, models, migrations) without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from masterdata.models.base import GoldenRecord


@dataclass(frozen=True)
class Domain:
    """Everything the hub needs to know about one master-data domain."""

    name: str
    """Stable identifier used in URLs of the sync API, source links and config (``customer``)."""
    model: str
    """``app_label.ModelName`` of the golden-record model."""
    api_path: str
    """Path segment under ``/api/v1/`` (``customers``)."""
    business_key: str = "code"
    match_keys: tuple[str, ...] = ("code",)
    """Fields that identify the same real-world thing exactly (used by matching)."""
    fuzzy_fields: tuple[str, ...] = ("name",)
    """Fields compared approximately when no exact key matches (used by matching)."""
    org_field: str | None = None
    """Path to the owning org unit: a FK name, ``"pk"`` for org units themselves, or None
    when records of the domain belong to the whole group (materials)."""
    search_fields: tuple[str, ...] = ("code", "name")
    filter_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Extra filters beyond code/status/updated_since: ``{field: lookups}``."""
    ordering_fields: tuple[str, ...] = ("id", "code", "name", "updated_at", "created_at")
    list_display: tuple[str, ...] = ("code", "name", "status", "version", "updated_at")
    list_filter: tuple[str, ...] = ("status",)
    sensitive_fields: tuple[str, ...] = ()
    serializer: str | None = None
    """Dotted path of a serializer class; derived from the model when None."""
    admin: str | None = None
    """Dotted path of a ModelAdmin class; the generic golden-record admin when None."""
    label: str = ""

    def __hash__(self) -> int:
        # The generated hash would fail on the ``filter_fields`` dict; the name identifies a domain.
        return hash(self.name)

    @cached_property
    def model_class(self) -> type[GoldenRecord]:
        return apps.get_model(self.model)

    @cached_property
    def serializer_class(self) -> type:
        if self.serializer:
            return import_string(self.serializer)
        from masterdata.api.serializers import build_serializer

        return build_serializer(self)

    @cached_property
    def admin_class(self) -> type:
        if self.admin:
            return import_string(self.admin)
        from masterdata.admin.golden import GoldenRecordAdmin

        return GoldenRecordAdmin

    @property
    def verbose_name(self) -> str:
        return self.label or str(self.model_class._meta.verbose_name)

    def field_names(self) -> list[str]:
        """Golden fields a source may supply (everything but bookkeeping fields)."""
        from masterdata.models.base import GoldenRecord

        bookkeeping = GoldenRecord.BOOKKEEPING_FIELDS
        return [
            f.name for f in self.model_class._meta.concrete_fields if f.name not in bookkeeping and not f.primary_key
        ]


class DomainRegistry:
    """Ordered collection of :class:`Domain` entries, looked up by name or model.

    Names, API paths and models are each unique: a second domain on the same path or model
    would make routes, admin registration or ``for_model`` ambiguous.
    """

    def __init__(self) -> None:
        self._domains: dict[str, Domain] = {}

    def register(self, domain: Domain) -> Domain:
        existing = self._domains.get(domain.name)
        if existing is not None and existing != domain:
            raise ValueError(f"Domain {domain.name!r} is already registered differently.")
        for other in self._domains.values():
            if other.name == domain.name:
                continue
            if other.api_path == domain.api_path:
                raise ValueError(f"API path {domain.api_path!r} is already used by {other.name}.")
            if other.model.lower() == domain.model.lower():
                raise ValueError(f"Model {domain.model} is already the model of {other.name}.")
        self._domains[domain.name] = domain
        return domain

    def unregister(self, name: str) -> None:
        self._domains.pop(name, None)

    def __iter__(self):
        return iter(list(self._domains.values()))

    def __len__(self) -> int:
        return len(self._domains)

    def __contains__(self, name: object) -> bool:
        return name in self._domains

    def get(self, name: str) -> Domain:
        try:
            return self._domains[name]
        except KeyError:
            raise LookupError(f"Unknown domain {name!r}; known: {', '.join(self._domains)}") from None

    def for_model(self, model: Any) -> Domain:
        label = model._meta.label
        for domain in self._domains.values():
            if domain.model.lower() == label.lower():
                return domain
        raise LookupError(f"{label} is not a registered domain model")

    def choices(self) -> list[tuple[str, str]]:
        """Choices for CharFields that name a domain (callable, so new domains need no migration)."""
        return [(d.name, d.label or d.name.replace("_", " ")) for d in self._domains.values()]


registry = DomainRegistry()


def domain_choices() -> list[tuple[str, str]]:
    return registry.choices()


# --- The five domains of DESIGN §3 ------------------------------------------------------------
registry.register(
    Domain(
        name="customer",
        model="masterdata.Customer",
        api_path="customers",
        label="customer",
        match_keys=("code", "tax_id", "email"),
        fuzzy_fields=("name", "address"),
        org_field="owner_org",
        search_fields=("code", "name", "tax_id", "email"),
        filter_fields={
            "tax_id": ("exact",),
            "email": ("exact",),
            "country": ("exact",),
            "credit_rating": ("exact",),
        },
        list_display=("code", "name", "country", "credit_rating", "owner_org", "status", "version", "updated_at"),
        list_filter=("status", "country", "credit_rating"),
    )
)
registry.register(
    Domain(
        name="supplier",
        model="masterdata.Supplier",
        api_path="suppliers",
        label="supplier",
        match_keys=("code", "tax_id", "contact_email"),
        fuzzy_fields=("name", "address"),
        org_field="owner_org",
        search_fields=("code", "name", "tax_id", "contact_email"),
        filter_fields={"tax_id": ("exact",), "country": ("exact",), "bank_account": ("exact",)},
        list_display=("code", "name", "country", "payment_terms", "owner_org", "status", "version", "updated_at"),
        list_filter=("status", "country", "payment_terms"),
        sensitive_fields=("bank_account",),
    )
)
registry.register(
    Domain(
        name="material",
        model="masterdata.Material",
        api_path="materials",
        label="material",
        match_keys=("code",),
        fuzzy_fields=("name", "specification"),
        org_field=None,
        search_fields=("code", "name", "specification"),
        filter_fields={"category": ("exact",), "material_type": ("exact",), "unit_of_measure": ("exact",)},
        list_display=(
            "code",
            "name",
            "specification",
            "unit_of_measure",
            "material_type",
            "status",
            "version",
            "updated_at",
        ),
        list_filter=("status", "material_type", "unit_of_measure"),
    )
)
registry.register(
    Domain(
        name="org_unit",
        model="masterdata.OrgUnit",
        api_path="org-units",
        label="org unit",
        match_keys=("code",),
        fuzzy_fields=("name",),
        org_field="pk",
        search_fields=("code", "name"),
        filter_fields={"unit_type": ("exact",), "parent": ("exact",)},
        list_display=("code", "name", "unit_type", "parent", "manager", "status", "version", "updated_at"),
        list_filter=("status", "unit_type"),
        admin="masterdata.admin.golden.OrgUnitAdmin",
    )
)
registry.register(
    Domain(
        name="employee",
        model="masterdata.Employee",
        api_path="employees",
        label="employee",
        match_keys=("code", "email"),
        fuzzy_fields=("name",),
        org_field="org_unit",
        search_fields=("code", "name", "email", "position"),
        filter_fields={
            "email": ("exact",),
            "org_unit": ("exact",),
            "manager": ("exact",),
            "national_id": ("exact",),
        },
        list_display=("code", "name", "position", "org_unit", "manager", "status", "version", "updated_at"),
        list_filter=("status",),
        sensitive_fields=("national_id",),
    )
)
