from django.apps import AppConfig


class MasterdataConfig(AppConfig):
    name = "masterdata"
    verbose_name = "Master data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import audit_signals, signals  # noqa: F401  (history context wiring, audit of logins)
