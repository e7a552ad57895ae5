from django.apps import AppConfig


class SixthDomainConfig(AppConfig):
    name = "tests.sixth_domain"
    label = "sixth_domain"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from masterdata.registry import Domain, registry

        registry.register(
            Domain(
                name="plant",
                model="sixth_domain.Plant",
                api_path="plants",
                label="plant",
                org_field="owner_org",
                filter_fields={"site_country": ("exact",)},
                list_display=("code", "name", "site_country", "owner_org", "status", "version"),
            )
        )
