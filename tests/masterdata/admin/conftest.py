"""Fixtures of the admin tests: logged-in browsers (Django's test client) and record builders."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from masterdata.models import Employee, OrgUnit
from masterdata.registry import Domain, registry
from tests.factories import UserFactory


def admin_url(model, view: str, *args) -> str:
    """``admin:<app>_<model>_<view>`` for a model class or instance."""
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def browser(user, **kwargs) -> Client:
    """A logged-in client; the user is reloaded because factories leave the password unsaved."""
    client = Client(**kwargs)
    client.force_login(type(user).objects.get(pk=user.pk))
    return client


@pytest.fixture
def superuser_client(superuser) -> Client:
    return browser(superuser)


@pytest.fixture
def steward_a_client(steward_a) -> Client:
    return browser(steward_a)


@pytest.fixture
def steward_b_client(steward_b) -> Client:
    return browser(steward_b)


@pytest.fixture
def integrator(db):
    """Staff user of the integration team: source systems and links, and every domain group-wide.

    A source link carries its source's whole record, so seeing every link takes seeing every
    record: the model's view permission on each domain and on org units (group-wide scope).
    """
    user = UserFactory(username="integrator", is_staff=True)
    codenames = [f"{action}_{model}" for model in ("sourcesystem", "sourcelink") for action in ("view", "change")]
    perms = list(Permission.objects.filter(content_type__app_label="masterdata", codename__in=codenames))
    for domain in registry:
        opts = domain.model_class._meta
        perms.append(Permission.objects.get(content_type__app_label=opts.app_label, codename=f"view_{opts.model_name}"))
    user.user_permissions.set(perms)
    return user


def grant_model_perms(user, *codenames: str) -> None:
    """Add masterdata model permissions to ``user`` (by codename)."""
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="masterdata", codename__in=codenames))


def domain_params() -> list:
    """One pytest param per registered domain, the test settings' sixth domain ('plant') included."""
    return [pytest.param(domain.name, id=domain.name) for domain in registry]


def build_record(domain: Domain, unit: OrgUnit, n: int):
    """A record of ``domain`` owned under ``unit`` whose every foreign key points at its own row.

    Distinct related rows make a missing ``select_related`` show up as one query per row.
    """
    model = domain.model_class
    tag = f"{domain.name[:3].upper()}{n:04d}"
    values = {"code": tag, "name": f"{domain.verbose_name} {n}"}
    for field in model._meta.concrete_fields:
        if not field.is_relation or field.name == "merged_into":
            continue
        if field.related_model is OrgUnit:
            values[field.name] = OrgUnit.objects.create(code=f"U-{tag}", name=f"Unit of {tag}", parent=unit)
        elif field.related_model is Employee:
            values[field.name] = Employee.objects.create(code=f"E-{tag}", name=f"Boss of {tag}", org_unit=unit)
    return model.objects.create(**values)
