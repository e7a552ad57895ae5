"""System checks of the domain registry: a field the registry calls sensitive is encrypted at rest.

Why a check: the registry's ``sensitive_fields`` makes the API and the admin mask a field, but
only the model field's class (:class:`masterdata.fields.SensitiveField`) keeps it out of the
database in clear, and only its blind-index expression index keeps an exact match from reading
every row. A new domain that lists a field without declaring it so would mask the value on
screen and store it in clear; ``manage.py check`` (and ``migrate``, ``runserver``) refuse that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from masterdata.fields import BlindIndexOf, SensitiveField
from masterdata.registry import Domain, registry


def has_blind_index(model: type[models.Model], field_name: str) -> bool:
    """Does the model's ``Meta.indexes`` index ``blind_index_expression(field_name)``?"""
    wanted = [models.F(field_name)]
    return any(
        isinstance(expression, BlindIndexOf) and expression.get_source_expressions() == wanted
        for index in model._meta.indexes
        for expression in index.expressions
    )


def sensitive_field_errors(domains: Iterable[Domain]) -> list[checks.CheckMessage]:
    """Errors for the sensitive fields of ``domains`` that are not encrypted and blind-indexed as they must be."""
    errors: list[checks.CheckMessage] = []
    for domain in domains:
        model = domain.model_class
        for name in domain.sensitive_fields:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                errors.append(
                    checks.Error(
                        f"Domain {domain.name!r} lists {name!r} as sensitive, but the model has no such field.",
                        obj=model,
                        id="masterdata.E001",
                    )
                )
                continue
            if not isinstance(field, SensitiveField):
                errors.append(
                    checks.Error(
                        f"Sensitive in the registry (domain {domain.name!r}) but not a SensitiveField: "
                        "it would be stored in clear.",
                        hint="Declare it as masterdata.fields.SensitiveField and add its blind index.",
                        obj=field,
                        id="masterdata.E002",
                    )
                )
                continue
            if not has_blind_index(model, name):
                errors.append(
                    checks.Error(
                        f"Sensitive (domain {domain.name!r}) but without its blind index: an exact match "
                        "would read every row.",
                        hint=f'Add models.Index(blind_index_expression("{name}"), name=…) to its Meta.indexes.',
                        obj=field,
                        id="masterdata.E003",
                    )
                )
        for field in model._meta.concrete_fields:
            if isinstance(field, SensitiveField) and field.name not in domain.sensitive_fields:
                errors.append(
                    checks.Error(
                        f"Encrypted at rest but not in the sensitive_fields of domain {domain.name!r}: "
                        "the API and the admin would show it unmasked.",
                        hint="List it in the domain's sensitive_fields.",
                        obj=field,
                        id="masterdata.E004",
                    )
                )
    return errors


def check_sensitive_fields(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The registered check: every registered domain (or those of ``app_configs``)."""
    domains = [
        domain for domain in registry if app_configs is None or domain.model_class._meta.app_config in app_configs
    ]
    return sensitive_field_errors(domains)
