"""Admin registration: every domain of the registry, plus source systems and links.

A domain's admin is its registry entry's class (the generic golden-record admin unless the
entry names another) specialised with the entry, so a new domain needs no admin code.
"""

from django.contrib import admin

from masterdata.registry import registry

from . import conflicts, duplicates, permissions, quality, security, sources  # noqa: F401  (they register their models)


def register_domains(site: admin.AdminSite = admin.site) -> None:
    """Register each domain's admin, specialised with its registry entry."""
    for domain in registry:
        model = domain.model_class
        if site.is_registered(model):
            continue
        admin_class = type(f"{model.__name__}Admin", (domain.admin_class,), {"domain": domain})
        site.register(model, admin_class)


register_domains()
