from django.apps import AppConfig
from django.core import checks


class MasterdataConfig(AppConfig):
    name = "masterdata"
    verbose_name = "Master data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import audit_signals, signals  # noqa: F401  (history context wiring, audit of logins)
        from .checks import check_sensitive_fields

        checks.register(check_sensitive_fields, checks.Tags.models)
