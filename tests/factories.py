"""Factories for test data (factory_boy)."""

import factory
from django.contrib.auth import get_user_model

from masterdata.models import Customer, Employee, Material, OrgUnit, OrgUnitType, SourceSystem, Supplier


class OrgUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrgUnit

    code = factory.Sequence(lambda n: f"ORG{n:04d}")
    name = factory.Sequence(lambda n: f"Org unit {n}")
    unit_type = OrgUnitType.DEPARTMENT


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    code = factory.Sequence(lambda n: f"C{n:06d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    country = "CN"
    credit_rating = "A"


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier

    code = factory.Sequence(lambda n: f"S{n:06d}")
    name = factory.Sequence(lambda n: f"Supplier {n}")


class MaterialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Material

    code = factory.Sequence(lambda n: f"M{n:06d}")
    name = factory.Sequence(lambda n: f"Material {n}")


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee

    code = factory.Sequence(lambda n: f"E{n:06d}")
    name = factory.Sequence(lambda n: f"Employee {n}")


class SourceSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SourceSystem

    code = factory.Sequence(lambda n: f"src{n}")
    name = factory.Sequence(lambda n: f"Source {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-Secret-123")
