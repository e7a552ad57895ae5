"""Admin registration: every domain of the registry, plus sources and links."""

from django.contrib import admin

from masterdata.registry import registry

from . import sources  # noqa: F401  (registers source systems and links)


def register_domains(site: admin.AdminSite = admin.site) -> None:
    """Register each domain's admin, specialised with its registry entry."""
    for domain in registry:
        model = domain.model_class
        if site.is_registered(model):
            continue
        admin_class = type(f"{model.__name__}Admin", (domain.admin_class,), {"domain": domain})
        site.register(model, admin_class)


register_domains()
